"""The stage's one REST API: which API ``chalice deploy`` updates, the issuer it serves, its default endpoint.

Chalice finds the API to update in ``.chalice/deployed/STAGE.json``: without
that file it creates a new API, with a new ``execute-api`` URL. The file is
therefore committed with the stage (as Chalice intends), and ``make infra``
makes sure it names the right API before any ``chalice deploy``:

- a stage without ``ISSUER_URL`` and without an API (a first deploy, no
  custom domain) gets its API created now, empty, so its URL (the issuer) is
  known and recorded in ``.chalice/config.json`` before the first ``chalice
  deploy``, which then fills that API in: the stage serves the right issuer
  from its first request, after one deploy;
- a checkout that lacks the record but whose issuer is an ``execute-api`` URL
  finds the API again from the issuer (the URL holds its id);
- an issuer whose API is gone stops everything: the issuer is an identity
  clients trust, and a new API would silently be another one.

After ``chalice deploy``, a stage with a custom domain has its default
``execute-api`` endpoint switched off (:func:`switch_off_default_endpoint`)
and every stage has its throttling printed next to the account's Lambda
concurrency (:func:`throttling_line`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infra.policies import placeholder_values
from infra.stages import APP_NAME, CONFIG_PATH, Stage, StageError

# https://{rest_api_id}.execute-api.{region}.amazonaws.com[.cn]/{stage}: the URL Chalice records and prints.
EXECUTE_API_URL = re.compile(
    r"^https://(?P<id>[a-z0-9]{10})\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<stage>[^/]+)"
)
CHALICE_DEFAULT_ENDPOINT_TYPE = "EDGE"


# --------------------------------------------------------------------------- which API, which issuer


def record_issuer(stage_name: str, issuer: str, config_path: Path = CONFIG_PATH) -> None:
    """Write ``ISSUER_URL`` into the stage's environment in ``.chalice/config.json``."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["stages"][stage_name].setdefault("environment_variables", {})["ISSUER_URL"] = issuer
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def record_path(stage: Stage) -> Path:
    """Where ``chalice deploy`` reads and writes what it deployed for the stage."""
    return stage.chalice_dir / "deployed" / f"{stage.name}.json"


def _relative(stage: Stage) -> str:
    return f".chalice/deployed/{stage.name}.json"


def recorded_api(stage: Stage) -> tuple[str, str] | None:
    """``(rest_api_id, rest_api_url)`` from the stage's deployed record, if it names a REST API."""
    path = record_path(stage)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise StageError(f"{_relative(stage)} is not JSON ({error}): restore it from git") from None
    for resource in record.get("resources", []):
        if resource.get("resource_type") == "rest_api" and resource.get("rest_api_id"):
            return str(resource["rest_api_id"]), str(resource.get("rest_api_url", ""))
    return None


def write_record(stage: Stage, rest_api_id: str, url: str) -> None:
    """Name ``rest_api_id`` in the deployed record, in Chalice's own format, keeping its other resources."""
    path = record_path(stage)
    record: dict[str, Any] = {"resources": [], "schema_version": "2.0", "backend": "api"}
    if path.exists():
        record = json.loads(path.read_text(encoding="utf-8"))
    others = [resource for resource in record["resources"] if resource.get("resource_type") != "rest_api"]
    rest_api = {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": rest_api_id, "rest_api_url": url}
    record["resources"] = [*others, rest_api]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def execute_api_url(rest_api_id: str, outputs: Mapping[str, str], api_gateway_stage: str) -> str:
    """The default URL of a REST API in the infrastructure stack's region, as Chalice records it."""
    values = placeholder_values(outputs)
    suffix = "amazonaws.com.cn" if values["AWS::Partition"] == "aws-cn" else "amazonaws.com"
    return f"https://{rest_api_id}.execute-api.{values['AWS::Region']}.{suffix}/{api_gateway_stage}/"


def issuer_api_id(stage: Stage) -> str | None:
    """The REST API an ``execute-api`` issuer names; None for a custom domain or no issuer."""
    match = EXECUTE_API_URL.match(f"{stage.issuer_url}/") if stage.issuer_url else None
    return match["id"] if match else None


def _exists(apigateway: Any, rest_api_id: str) -> bool:
    try:
        apigateway.get_rest_api(restApiId=rest_api_id)
    except apigateway.exceptions.NotFoundException:
        return False
    return True


def _gone(stage: Stage, rest_api_id: str) -> StageError:
    return StageError(
        f"stage {stage.name}'s issuer {stage.issuer_url} names REST API {rest_api_id}, which is gone; a new API "
        f"would be a new issuer: to start over, remove ISSUER_URL from stage {stage.name} in .chalice/config.json "
        f"and delete {_relative(stage)}, run make infra STAGE={stage.name} again, and give every client the new issuer"
    )


def settle_api(apigateway: Any, stage: Stage, outputs: Mapping[str, str], config_path: Path = CONFIG_PATH) -> str:
    """Make the deployed record name the stage's API, and the issuer name it too; the line to print."""
    recorded, named = recorded_api(stage), issuer_api_id(stage)
    if recorded is not None and named is not None and recorded[0] != named:
        raise StageError(
            f"{_relative(stage)} names REST API {recorded[0]} but stage {stage.name}'s issuer names {named}: "
            f"delete {_relative(stage)} (make infra finds the issuer's API again) or fix ISSUER_URL"
        )
    if named is not None:
        if not _exists(apigateway, named):
            raise _gone(stage, named)
        if recorded is None:
            write_record(stage, named, execute_api_url(named, outputs, stage.api_gateway_stage))
            return f"3/6 REST API {named} found again from the issuer, recorded in {_relative(stage)}: commit it"
        return f"3/6 REST API {named} ({_relative(stage)}) serves issuer {stage.issuer_url}"
    if stage.issuer_url is not None:  # a custom domain: the API behind it may change, the issuer does not
        known = recorded is not None and _exists(apigateway, recorded[0])
        api = f"REST API {recorded[0]}" if known and recorded else "a new REST API (chalice deploy creates it)"
        return f"3/6 issuer {stage.issuer_url}, served by {api}: commit {_relative(stage)} after the deploy"
    if stage.custom_domain:
        domain = stage.custom_domain.get("domain_name")
        raise StageError(f"stage {stage.name} has a custom domain but no ISSUER_URL: set it to https://{domain}")
    return _reserve(apigateway, stage, outputs, config_path, recorded)


def _reserve(
    apigateway: Any, stage: Stage, outputs: Mapping[str, str], config_path: Path, recorded: tuple[str, str] | None
) -> str:
    """A stage whose issuer will be its own ``execute-api`` URL: create (or reuse) the API now and record both."""
    if recorded is not None and _exists(apigateway, recorded[0]):
        rest_api_id = recorded[0]
    else:
        endpoint = str(stage.config.get("api_gateway_endpoint_type", CHALICE_DEFAULT_ENDPOINT_TYPE))
        created = apigateway.create_rest_api(
            name=APP_NAME,
            description=f"Tollgate {stage.name}: created empty by make infra, filled in by chalice deploy",
            endpointConfiguration={"types": [endpoint]},
        )
        rest_api_id = str(created["id"])
    url = execute_api_url(rest_api_id, outputs, stage.api_gateway_stage)
    write_record(stage, rest_api_id, url)
    record_issuer(stage.name, url.rstrip("/"), config_path)
    return (
        f"3/6 REST API {rest_api_id} reserved: ISSUER_URL={url.rstrip('/')} recorded in {config_path.name}; "
        f"commit it and {_relative(stage)} (an issuer must never change)"
    )


def check_deployed_api(stage: Stage, rest_api_id: str) -> None:
    """After ``chalice deploy``: an ``execute-api`` issuer must still name the API Chalice deployed."""
    named = issuer_api_id(stage)
    if named is not None and named != rest_api_id:
        raise StageError(
            f"chalice deploy deployed REST API {rest_api_id}, but stage {stage.name}'s issuer names {named}: "
            f"{_relative(stage)} did not name it; run make infra STAGE={stage.name}, then deploy again"
        )


# --------------------------------------------------------------------------- after chalice deploy


def throttling_line(stage: Stage, lambda_client: Any) -> str:
    """The stage's throttling beside the account's Lambda concurrency, and a warning when a burst cannot fit.

    API Gateway lets ``burst_limit`` requests through at once; Lambda runs at
    most the account's unreserved concurrency at once (new accounts may get
    10, not 1,000), and API Gateway answers a throttled invocation with a 500.
    """
    limit = lambda_client.get_account_settings()["AccountLimit"]
    total, unreserved = int(limit["ConcurrentExecutions"]), int(limit["UnreservedConcurrentExecutions"])
    throttling = stage.throttling
    line = (
        f"API Gateway throttling {throttling.rate_limit:g} requests/s, burst {throttling.burst_limit}; "
        f"this account's Lambda concurrency {total} ({unreserved} unreserved)"
    )
    if unreserved < throttling.burst_limit:
        line += (
            f": a burst of more than {unreserved} requests at once fails with 500 until you ask Service Quotas "
            f"(console, service Lambda) for more 'Concurrent executions'"
        )
    return line


DEFAULT_ENDPOINT_OFF = "the default execute-api URL answers 403: off"
PROBE_ATTEMPTS = 12
PROBE_PAUSE_SECONDS = 5.0


def switch_off_default_endpoint(
    apigateway: Any, probe: Callable[[str], int], stage: Stage, rest_api_id: str, rest_api_url: str
) -> str:
    """Turn the ``execute-api`` endpoint off for good and prove it from outside; the line that says so.

    API Gateway applies ``disableExecuteApiEndpoint`` only when a stage is
    redeployed or updated after it changes, and every ``chalice deploy``
    overwrites the API from a swagger that lacks it: so the patch comes after
    each ``chalice deploy``, a stage deployment after the patch, and a GET of
    the default URL must then meet API Gateway's 403.
    """
    apigateway.update_rest_api(
        restApiId=rest_api_id,
        patchOperations=[{"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "True"}],
    )
    apigateway.create_deployment(
        restApiId=rest_api_id, stageName=stage.api_gateway_stage, description="default execute-api endpoint off"
    )
    url = f"{rest_api_url.rstrip('/')}/.well-known/openid-configuration"
    status = 0
    for attempt in range(PROBE_ATTEMPTS):
        status = probe(url)
        if status == 403:
            return DEFAULT_ENDPOINT_OFF
        if attempt + 1 < PROBE_ATTEMPTS:
            time.sleep(PROBE_PAUSE_SECONDS)  # the new deployment takes seconds to reach every edge
    answer = f"answers {status}" if status else "gives no answer"
    raise StageError(
        f"the default execute-api URL {url} still {answer} after switching it off and redeploying "
        f"stage {stage.api_gateway_stage}: check with aws apigateway get-rest-api --rest-api-id {rest_api_id} "
        f"(disableExecuteApiEndpoint) and deploy again"
    )
