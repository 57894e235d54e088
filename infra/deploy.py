"""``make deploy STAGE=...``: from an AWS account to a working issuer with one command.

1. deploy ``infra/resources.yaml`` as the CloudFormation stack ``tollgate-STAGE``
   (``NamePrefix=tollgate-STAGE``) and read its outputs;
2. write each function's ``iam_policy_file`` from ``infra/policies.py`` with
   the ARNs in those outputs (least privilege needs real ARNs, which only
   exist once the stack does);
3. ``chalice deploy --stage STAGE``;
4. apply what Chalice cannot: the stage's API Gateway throttling, and with a
   custom domain the default ``execute-api`` endpoint switched off (callers
   then only reach the domain, whose security policy is TLS 1.2); then what
   bounds the bill (:mod:`infra.guards`): the WAF stack ``tollgate-STAGE-waf``
   in front of the API unless the stage opts out;
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import guards
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


def real_tools() -> Tools:
    import boto3

    from chalicelib.keys.rotation import invoke

    session = boto3.session.Session()

    def run_chalice(arguments: list[str]) -> None:
        script = Path(sys.executable).with_name("chalice")
        launcher = [str(script)] if script.exists() else [sys.executable, "-m", "chalice.cli"]
        subprocess.run([*launcher, *arguments], cwd=REPO_ROOT, check=True)

    return Tools(session.client("cloudformation"), session.client("apigateway"), run_chalice, invoke)


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


def deploy_infrastructure(cloudformation: Any, stage: Stage, template_path: Path = TEMPLATE_PATH) -> dict[str, str]:
    """Create or update the stage's infrastructure stack; its outputs."""
    arguments = {
        "StackName": stage.stack_name,
        "TemplateBody": template_path.read_text(encoding="utf-8"),
        "Parameters": [{"ParameterKey": "NamePrefix", "ParameterValue": stage.name_prefix}],
        "Tags": [{"Key": "tollgate-stage", "Value": stage.name}],
    }
    if _stack_exists(cloudformation, stage.stack_name):
        try:
            cloudformation.update_stack(**arguments)
        except cloudformation.exceptions.ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
        else:
            cloudformation.get_waiter("stack_update_complete").wait(StackName=stage.stack_name)
    else:
        cloudformation.create_stack(**arguments, EnableTerminationProtection=True)
        cloudformation.get_waiter("stack_create_complete").wait(StackName=stage.stack_name)
    return stack_outputs(cloudformation, stage.stack_name)


def _stack_exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)


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
    if stage.custom_domain:
        apigateway.update_rest_api(
            restApiId=rest_api_id,
            patchOperations=[{"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "True"}],
        )


# --------------------------------------------------------------------------- 4. what bounds the bill (infra/guards.py)


def check_guards(stage: Stage) -> None:
    """Read every guard setting before anything is deployed: a bad one raises ``StageError``."""
    guards.waf(stage)
    guards.check_budget_recipient(stage)
    guards.reserved_concurrency(stage)


def apply_guards(cloudformation: Any, stage: Stage, rest_api_id: str, say: Callable[[str], None]) -> None:
    apply_waf(cloudformation, stage, rest_api_id, say)
    apply_budget(cloudformation, stage, say)


def apply_budget(cloudformation: Any, stage: Stage, say: Callable[[str], None]) -> None:
    """The stage's AWS Budgets alarm, in its own stack."""
    settings, name = guards.budget(stage), guards.budget_stack_name(stage)
    recipients = " and ".join(filter(None, (settings.alert_email, settings.alert_sns_topic_arn)))
    say(f"4/6 budget alarm {stage.name_prefix}: ${settings.monthly_usd} a month, alerts to {recipients}")
    template = guards.BUDGET_TEMPLATE_PATH.read_text(encoding="utf-8")
    apply_stack(cloudformation, stage, name, template, settings.parameters(stage))


def apply_waf(cloudformation: Any, stage: Stage, rest_api_id: str, say: Callable[[str], None]) -> None:
    """The WAF stack in front of the API, unless the stage opted out: then a WAF it had is deleted."""
    name, settings = guards.waf_stack_name(stage), guards.waf(stage)
    if settings.enabled:
        say(f"4/6 WAF stack {name}: rate limits per source address")
        parameters = settings.parameters(rest_api_id, stage.api_gateway_stage)
        apply_stack(cloudformation, stage, name, guards.WAF_TEMPLATE_PATH.read_text(encoding="utf-8"), parameters)
    elif _stack_exists(cloudformation, name):
        say(f"4/6 WAF off (the stage opts out): deleting stack {name}")
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name)
    else:
        say("4/6 WAF off (the stage opts out)")


def apply_stack(cloudformation: Any, stage: Stage, name: str, template_body: str, parameters: dict[str, str]) -> None:
    """Create stack ``name`` or bring it up to date; it holds nothing that a re-creation would lose."""
    arguments = {
        "StackName": name,
        "TemplateBody": template_body,
        "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        "Tags": [{"Key": "tollgate-stage", "Value": stage.name}],
    }
    if not _stack_exists(cloudformation, name):
        cloudformation.create_stack(**arguments)
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name)
        return
    try:
        cloudformation.update_stack(**arguments)
    except cloudformation.exceptions.ClientError as error:
        if "No updates are to be performed" not in str(error):
            raise
        return
    cloudformation.get_waiter("stack_update_complete").wait(StackName=name)


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
    check_guards(stage)
    say(f"1/6 infrastructure stack {stage.stack_name}")
    outputs = deploy_infrastructure(tools.cloudformation, stage)
    say("2/6 least-privilege policy per function")
    write_policy_files(stage, outputs)
    say(f"3/6 chalice deploy --stage {stage.name}")
    tools.run_chalice(["deploy", "--stage", stage.name])
    rest_api_id, rest_api_url = deployed_api(stage)
    say("4/6 API Gateway throttling" + (" and custom domain only" if stage.custom_domain else ""))
    configure_api(tools.apigateway, stage, rest_api_id)
    apply_guards(tools.cloudformation, stage, rest_api_id, say)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    args = parser.parse_args(argv)
    try:
        issuer = deploy(args.stage, real_tools())
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\nTollgate {args.stage} is live. Issuer: {issuer}")
    print(f"Discovery: {issuer}/.well-known/openid-configuration")
    print(f"First client: .venv/bin/python -m chalicelib.cli --stage {args.stage} clients create --json '{{...}}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
