"""``make deploy STAGE=...``: from an AWS account to a working issuer with one command.

1. deploy ``infra/resources.yaml`` as the CloudFormation stack ``tollgate-STAGE``
   (``NamePrefix=tollgate-STAGE``) and read its outputs: a first create runs
   without termination or table deletion protection, so a failure rolls back
   to nothing, and both are switched on once it succeeds; a stack in a state
   CloudFormation would not update stops the deploy with one line saying
   what to run (:func:`stack_problem`);
2. write each function's ``iam_policy_file`` from ``infra/policies.py`` with
   the ARNs in those outputs (least privilege needs real ARNs, which only
   exist once the stack does);
3. ``chalice deploy --stage STAGE``;
4. apply what Chalice cannot: the stage's API Gateway throttling, and with a
   custom domain the default ``execute-api`` endpoint switched off (callers
   then only reach the domain, whose security policy is TLS 1.2);
5. a stage without ``ISSUER_URL`` (dev, no custom domain) gets the API's own
   URL (``https://{id}.execute-api.{region}.amazonaws.com/api``) written into
   ``.chalice/config.json`` and is deployed once more: the issuer is an
   identity and must never change, so it is recorded where it can be committed;
6. create the first signing keys (through the ``rotate_keys`` function) if the
   stage has none.

Nothing here runs in tests against AWS: the steps take their AWS clients and
the ``chalice`` runner as arguments (:class:`Tools`), and tests pass fakes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import WaiterError

from infra.local import TEMPLATE_PATH
from infra.policies import deploy_documents
from infra.stages import CONFIG_PATH, REPO_ROOT, ROTATE_KEYS, Stage, StageError, deployable_stage

PLACEHOLDER_MARKERS = ("example.com", ":000000000000:")


@dataclass(frozen=True)
class Tools:
    """Everything that reaches AWS or runs Chalice; tests replace them."""

    cloudformation: Any
    apigateway: Any
    run_chalice: Callable[[list[str]], None]
    key_operation: Callable[[str, str], Any]  # (function name, "list" | "rotate") -> result
    lambda_client: Any  # the account's concurrency (GetAccountSettings)
    probe: Callable[[str], int]  # an HTTPS GET from outside AWS: the status it answers


def real_tools() -> Tools:
    import boto3

    from chalicelib.keys.rotation import invoke

    session = boto3.session.Session()

    def run_chalice(arguments: list[str]) -> None:
        script = Path(sys.executable).with_name("chalice")
        launcher = [str(script)] if script.exists() else [sys.executable, "-m", "chalice.cli"]
        subprocess.run([*launcher, *arguments], cwd=REPO_ROOT, check=True)

    return Tools(
        session.client("cloudformation"),
        session.client("apigateway"),
        run_chalice,
        invoke,
        session.client("lambda"),
        http_status,
    )


def http_status(url: str) -> int:
    """The status an anonymous HTTPS GET of ``url`` answers (403 included: no exception for it)."""
    if not url.startswith("https://"):
        raise StageError(f"refusing to probe {url!r}: not https")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - https only, checked above
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# --------------------------------------------------------------------------- checks


def check_placeholders(stage: Stage) -> None:
    """Refuse the example domain and certificate the committed prod stage ships with."""
    values = json.dumps({"domain": stage.custom_domain, "issuer": stage.issuer_url})
    for marker in PLACEHOLDER_MARKERS:
        if marker in values:
            raise StageError(
                f"stage {stage.name} still has the example custom domain or certificate ({marker!r}): "
                "set api_gateway_custom_domain.domain_name, certificate_arn and ISSUER_URL "
                "in .chalice/config.json (README: Deploying to AWS)"
            )


# --------------------------------------------------------------------------- 1. infrastructure

PROTECTION_PARAMETER = "ProtectDurableTables"  # infra/resources.yaml: deletion protection of Clients and Users
USABLE_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}


class StackNotUsable(StageError):
    """The stage's stack is in a state ``make deploy`` cannot update; the message is one line saying what to run."""


def deploy_infrastructure(cloudformation: Any, stage: Stage, template_path: Path = TEMPLATE_PATH) -> dict[str, str]:
    """Create or update the stage's infrastructure stack; its outputs.

    A first create runs unprotected (no termination protection, tables
    deletable), so if it fails CloudFormation rolls it back to nothing and
    ``RetainExceptOnCreate`` leaves no name behind; the update that follows
    at once switches both protections on for good.
    """
    template = template_path.read_text(encoding="utf-8")
    stack = _describe_stack(cloudformation, stage.stack_name)
    if stack is None:
        _create_unprotected(cloudformation, stage, template)
    else:
        refuse_unusable(stage, stack)
    _update_protected(cloudformation, stage, template)
    return stack_outputs(cloudformation, stage.stack_name)


def _stack_arguments(stage: Stage, template: str, *, protect: bool) -> dict[str, Any]:
    parameters = {"NamePrefix": stage.name_prefix, PROTECTION_PARAMETER: "true" if protect else "false"}
    return {
        "StackName": stage.stack_name,
        "TemplateBody": template,
        "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        "Tags": [{"Key": "tollgate-stage", "Value": stage.name}],
    }


def _create_unprotected(cloudformation: Any, stage: Stage, template: str) -> None:
    cloudformation.create_stack(**_stack_arguments(stage, template, protect=False))
    _wait(cloudformation, "stack_create_complete", stage)
    cloudformation.update_termination_protection(EnableTerminationProtection=True, StackName=stage.stack_name)


def _update_protected(cloudformation: Any, stage: Stage, template: str) -> None:
    try:
        cloudformation.update_stack(**_stack_arguments(stage, template, protect=True))
    except cloudformation.exceptions.ClientError as error:
        if "No updates are to be performed" not in str(error):
            raise
    else:
        _wait(cloudformation, "stack_update_complete", stage)


def _wait(cloudformation: Any, waiter: str, stage: Stage) -> None:
    """Wait for the operation to settle; if it failed, the one line its final state calls for."""
    try:
        cloudformation.get_waiter(waiter).wait(StackName=stage.stack_name)
        return
    except WaiterError as error:
        failure = error
    stack = _describe_stack(cloudformation, stage.stack_name)
    if stack is None:
        raise StackNotUsable(f"Stack {stage.stack_name} is gone: deploy again")
    refuse_unusable(stage, stack)
    if stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE":
        raise StackNotUsable(stack_problem(stage, stack))
    raise failure  # settled in a usable state, yet the waiter gave up: nothing clearer to say


def _describe_stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    live = [stack for stack in stacks if stack["StackStatus"] != "DELETE_COMPLETE"]
    return live[0] if live else None


def refuse_unusable(stage: Stage, stack: dict[str, Any]) -> None:
    if stack["StackStatus"] not in USABLE_STATES:
        raise StackNotUsable(stack_problem(stage, stack))


def stack_problem(stage: Stage, stack: dict[str, Any]) -> str:
    """One line: the stack's state, what it means, and the command that unblocks the next deploy."""
    name, status = stage.stack_name, stack["StackStatus"]
    events = f"aws cloudformation describe-stack-events --stack-name {name}"
    delete = f"aws cloudformation delete-stack --stack-name {name}"
    if stack.get("EnableTerminationProtection"):
        delete = (
            f"aws cloudformation update-termination-protection --no-enable-termination-protection "
            f"--stack-name {name} && {delete}"
        )
    if status == "ROLLBACK_COMPLETE":
        advice = f"its first create failed (why: {events}) and was undone; it holds nothing and can only be deleted"
        return f"Stack {name} is in {status}: {advice}: delete it with: {delete}; then deploy again"
    if status in ("ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED", "REVIEW_IN_PROGRESS"):
        advice = f"it never finished creating, or a delete stopped half way (why: {events})"
        return f"Stack {name} is in {status}: {advice}: delete it with: {delete}; then deploy again"
    if status == "UPDATE_ROLLBACK_FAILED":
        fix = f"aws cloudformation continue-update-rollback --stack-name {name}"
        return f"Stack {name} is in {status}: an update could not be undone (why: {events}): fix that, then: {fix}"
    if status == "UPDATE_FAILED":
        fix = f"aws cloudformation rollback-stack --stack-name {name}"
        return f"Stack {name} is in {status}: an update failed without rollback (why: {events}): {fix}"
    if status == "UPDATE_ROLLBACK_COMPLETE":
        advice = "the update failed and was undone; the stage runs as before"
        return f"Stack {name} is in {status}: {advice}: see why with: {events}; then deploy again"
    if status.endswith("_IN_PROGRESS"):
        return (
            f"Stack {name} is in {status}: another operation is running: follow it with: {events}; deploy when it ends"
        )
    return f"Stack {name} is in {status}, which make deploy cannot update: see why with: {events}"


def stack_outputs(cloudformation: Any, name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


# --------------------------------------------------------------------------- 2. policies


def write_policy_files(stage: Stage, outputs: dict[str, str]) -> list[Path]:
    written = []
    for function, policy in deploy_documents(stage, outputs).items():
        path = stage.policy_file(function)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- 4. API Gateway


def deployed_api(stage: Stage) -> tuple[str, str]:
    """``(rest_api_id, rest_api_url)`` from what ``chalice deploy`` recorded in ``.chalice/deployed``."""
    record = json.loads((stage.chalice_dir / "deployed" / f"{stage.name}.json").read_text(encoding="utf-8"))
    for resource in record["resources"]:
        if resource.get("resource_type") == "rest_api":
            return resource["rest_api_id"], resource["rest_api_url"]
    raise StageError(f"chalice deploy recorded no REST API for stage {stage.name}")


def throttling_patch(stage: Stage) -> list[dict[str, str]]:
    """API Gateway ``UpdateStage`` operations: the stage's rate and burst for every method."""
    throttling = stage.throttling
    return [
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(throttling.rate_limit)},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(throttling.burst_limit)},
    ]


def configure_api(apigateway: Any, stage: Stage, rest_api_id: str) -> None:
    apigateway.update_stage(
        restApiId=rest_api_id, stageName=stage.api_gateway_stage, patchOperations=throttling_patch(stage)
    )


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


def switch_off_default_endpoint(tools: Tools, stage: Stage, rest_api_id: str, rest_api_url: str) -> str:
    """Turn the ``execute-api`` endpoint off for good and prove it from outside; the line that says so.

    API Gateway applies ``disableExecuteApiEndpoint`` only when a stage is
    redeployed or updated after it changes, and every ``chalice deploy``
    overwrites the API from a swagger that lacks it: so the patch comes after
    each ``chalice deploy``, a stage deployment after the patch, and a GET of
    the default URL must then meet API Gateway's 403.
    """
    tools.apigateway.update_rest_api(
        restApiId=rest_api_id,
        patchOperations=[{"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "True"}],
    )
    tools.apigateway.create_deployment(
        restApiId=rest_api_id, stageName=stage.api_gateway_stage, description="default execute-api endpoint off"
    )
    url = f"{rest_api_url.rstrip('/')}/.well-known/openid-configuration"
    status = 0
    for attempt in range(PROBE_ATTEMPTS):
        status = tools.probe(url)
        if status == 403:
            return DEFAULT_ENDPOINT_OFF
        if attempt + 1 < PROBE_ATTEMPTS:
            time.sleep(PROBE_PAUSE_SECONDS)  # the new deployment takes seconds to reach every edge
    raise StageError(
        f"the default execute-api URL {url} still answers {status} after switching it off and redeploying "
        f"stage {stage.api_gateway_stage}: check with aws apigateway get-rest-api --rest-api-id {rest_api_id} "
        f"(disableExecuteApiEndpoint) and deploy again"
    )


# --------------------------------------------------------------------------- 5. issuer


def record_issuer(stage_name: str, issuer: str, config_path: Path = CONFIG_PATH) -> None:
    """Write ``ISSUER_URL`` into the stage's environment in ``.chalice/config.json``."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["stages"][stage_name].setdefault("environment_variables", {})["ISSUER_URL"] = issuer
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- all of it


def deploy(
    stage_name: str, tools: Tools, *, config_path: Path = CONFIG_PATH, say: Callable[[str], None] = print
) -> str:
    """Every step above; the issuer URL of the deployed stage."""
    stage = deployable_stage(stage_name, config_path)
    check_placeholders(stage)
    say(f"1/6 infrastructure stack {stage.stack_name}")
    outputs = deploy_infrastructure(tools.cloudformation, stage)
    say("2/6 least-privilege policy per function")
    write_policy_files(stage, outputs)
    say(f"3/6 chalice deploy --stage {stage.name}")
    tools.run_chalice(["deploy", "--stage", stage.name])
    rest_api_id, rest_api_url = deployed_api(stage)
    say("4/6 " + throttling_line(stage, tools.lambda_client))
    configure_api(tools.apigateway, stage, rest_api_id)
    if stage.custom_domain:
        say(switch_off_default_endpoint(tools, stage, rest_api_id, rest_api_url))
    issuer = stage.issuer_url
    if issuer is None:
        issuer = rest_api_url.rstrip("/")
        say(f"5/6 ISSUER_URL={issuer} recorded in {config_path.name} (commit it); deploying again with it")
        record_issuer(stage.name, issuer, config_path)
        tools.run_chalice(["deploy", "--stage", stage.name])
    else:
        say(f"5/6 issuer {issuer}")
    function = stage.function_name(ROTATE_KEYS)
    if not retrying(lambda: tools.key_operation(function, "list")):
        say("6/6 first signing keys")
        tools.key_operation(function, "rotate")
    else:
        say("6/6 signing keys already there")
    return issuer


def retrying(call: Callable[[], Any], *, attempts: int = 6, pause: float = 5.0) -> Any:
    """``call()``, again after a pause if it fails: a brand-new role takes seconds to work (IAM is eventual)."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception:
            if attempt == attempts:
                raise
            time.sleep(pause)
    return None


def main(argv: list[str] | None = None, tools: Tools | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    args = parser.parse_args(argv)
    try:
        issuer = deploy(args.stage, tools or real_tools())
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\nTollgate {args.stage} is live. Issuer: {issuer}")
    print(f"Discovery: {issuer}/.well-known/openid-configuration")
    print(f"First client: .venv/bin/python -m chalicelib.cli --stage {args.stage} clients create --json '{{...}}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
