"""``make deploy STAGE=...``: from an AWS account to a working issuer with one command.

``make infra STAGE=...`` (:func:`prepare`) runs steps 1 to 3 only: after it,
a plain ``chalice deploy --stage STAGE`` deploys a working stage.

1. deploy ``infra/resources.yaml`` as the CloudFormation stack ``tollgate-STAGE``
   (``NamePrefix=tollgate-STAGE``) and read its outputs: a first create runs
   without termination or table deletion protection, so a failure rolls back
   to nothing, and both are switched on once it succeeds; a stack in a state
   CloudFormation would not update stops the deploy with one line saying
   what to run (:func:`stack_problem`);
2. write each function's ``iam_policy_file`` from ``infra/policies.py`` with
   the ARNs in those outputs (least privilege needs real ARNs, which only
   exist once the stack does);
3. settle the stage's REST API (``infra/rest_api.py``): the one named in the
   committed ``.chalice/deployed/STAGE.json``, found again from an
   ``execute-api`` issuer, or, for a stage without ``ISSUER_URL``, created
   empty now so that its URL (``https://{id}.execute-api.{region}.amazonaws.com/api``)
   is recorded as the issuer in ``.chalice/config.json`` before the first
   ``chalice deploy``: the issuer is an identity and must never change;
4. ``chalice deploy --stage STAGE``, which fills that API in, then no Lambda
   retry of a failed scheduled rotation (Chalice cannot set it);
5. apply what Chalice cannot: the stage's API Gateway throttling (printed
   beside the account's Lambda concurrency), and with a custom domain the
   default ``execute-api`` endpoint switched off, the stage redeployed, and
   the default URL probed until it answers 403 (callers then only reach the
   domain, whose security policy is TLS 1.2); then what bounds the bill
   (:mod:`infra.guards`): the WAF stack ``tollgate-STAGE-waf`` in front of
   the API unless the stage opts out, and the stage's budget alarm;
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

from infra import guards
from infra.local import TEMPLATE_PATH
from infra.policies import deploy_documents
from infra.rest_api import check_deployed_api, settle_api, switch_off_default_endpoint, throttling_line
from infra.stages import CONFIG_PATH, REPO_ROOT, ROTATE_KEYS, Stage, StageError, deployable_stage

PLACEHOLDER_MARKERS = ("example.com", ":000000000000:")


@dataclass(frozen=True)
class Tools:
    """Everything that reaches AWS or runs Chalice; tests replace them."""

    cloudformation: Any
    apigateway: Any
    run_chalice: Callable[[list[str]], None]
    key_operation: Callable[[str, str], Any]  # (function name, "list" | "rotate") -> result
    lambda_: Any  # the Lambda API: what chalice deploy cannot configure, the account's concurrency
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
    """The status an anonymous HTTPS GET of ``url`` answers (403 included: no exception for it); 0 for none."""
    if not url.startswith("https://"):
        raise StageError(f"refusing to probe {url!r}: not https")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - https only, checked above
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:  # no answer (DNS, connection, timeout): 0, and the caller tries again
        return 0


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


# --------------------------------------------------------------------------- 4. the rotation function


def never_retry_rotation(lambda_: Any, stage: Stage) -> None:
    """No Lambda retry of a failed scheduled rotation: a retry after its keys were written would rotate twice.

    EventBridge invokes the function asynchronously, and Lambda retries a
    failed asynchronous invocation twice by default; ``chalice deploy``
    cannot change that (``make package`` sets it in the template).
    """
    lambda_.put_function_event_invoke_config(FunctionName=stage.function_name(ROTATE_KEYS), MaximumRetryAttempts=0)


# --------------------------------------------------------------------------- 5. API Gateway


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


# --------------------------------------------------------------------------- 5. what bounds the bill (infra/guards.py)


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
    say(f"5/6 budget alarm {stage.name_prefix}: ${settings.monthly_usd} a month, alerts to {recipients}")
    template = guards.BUDGET_TEMPLATE_PATH.read_text(encoding="utf-8")
    apply_stack(cloudformation, stage, name, template, settings.parameters(stage))


def apply_waf(cloudformation: Any, stage: Stage, rest_api_id: str, say: Callable[[str], None]) -> None:
    """The WAF stack in front of the API, unless the stage opted out: then a WAF it had is deleted."""
    name, settings = guards.waf_stack_name(stage), guards.waf(stage)
    if settings.enabled:
        say(f"5/6 WAF stack {name}: rate limits per source address")
        parameters = settings.parameters(rest_api_id, stage.api_gateway_stage)
        apply_stack(cloudformation, stage, name, guards.WAF_TEMPLATE_PATH.read_text(encoding="utf-8"), parameters)
    elif _describe_stack(cloudformation, name) is not None:
        say(f"5/6 WAF off (the stage opts out): deleting stack {name}")
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name)
    else:
        say("5/6 WAF off (the stage opts out)")


def apply_stack(cloudformation: Any, stage: Stage, name: str, template_body: str, parameters: dict[str, str]) -> None:
    """Create stack ``name`` or bring it up to date; it holds nothing that a re-creation would lose."""
    arguments = {
        "StackName": name,
        "TemplateBody": template_body,
        "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        "Tags": [{"Key": "tollgate-stage", "Value": stage.name}],
    }
    if _describe_stack(cloudformation, name) is None:
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


# --------------------------------------------------------------------------- all of it


def prepare(
    stage_name: str, tools: Tools, *, config_path: Path = CONFIG_PATH, say: Callable[[str], None] = print
) -> Stage:
    """``make infra``: steps 1 to 3, all a plain ``chalice deploy`` needs first; the stage as now recorded."""
    stage = deployable_stage(stage_name, config_path)
    check_placeholders(stage)
    say(f"1/6 infrastructure stack {stage.stack_name}")
    outputs = deploy_infrastructure(tools.cloudformation, stage)
    say("2/6 least-privilege policy per function")
    write_policy_files(stage, outputs)
    say(settle_api(tools.apigateway, stage, outputs, config_path))
    return deployable_stage(stage_name, config_path)  # with the issuer settle_api may have recorded


def deploy(
    stage_name: str, tools: Tools, *, config_path: Path = CONFIG_PATH, say: Callable[[str], None] = print
) -> str:
    """Every step above; the issuer URL of the deployed stage."""
    check_guards(deployable_stage(stage_name, config_path))  # before anything runs; `make infra` needs none
    stage = prepare(stage_name, tools, config_path=config_path, say=say)
    say(f"4/6 chalice deploy --stage {stage.name}; a failed rotation is not retried")
    tools.run_chalice(["deploy", "--stage", stage.name])
    never_retry_rotation(tools.lambda_, stage)
    rest_api_id, rest_api_url = deployed_api(stage)
    check_deployed_api(stage, rest_api_id)
    say("5/6 " + throttling_line(stage, tools.lambda_))
    configure_api(tools.apigateway, stage, rest_api_id)
    if stage.custom_domain:
        say(switch_off_default_endpoint(tools.apigateway, tools.probe, stage, rest_api_id, rest_api_url))
    apply_guards(tools.cloudformation, stage, rest_api_id, say)
    function = stage.function_name(ROTATE_KEYS)
    if not retrying(lambda: tools.key_operation(function, "list")):
        say("6/6 first signing keys")
        tools.key_operation(function, "rotate")
    else:
        say("6/6 signing keys already there")
    return stage.issuer_url or rest_api_url.rstrip("/")


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
    parser.add_argument(
        "--infra-only", action="store_true", help="make infra: steps 1-3, then a plain chalice deploy works"
    )
    args = parser.parse_args(argv)
    try:
        if args.infra_only:
            print_next_steps(prepare(args.stage, tools or real_tools()))
            return 0
        issuer = deploy(args.stage, tools or real_tools())
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\nTollgate {args.stage} is live. Issuer: {issuer}")
    print(f"Discovery: {issuer}/.well-known/openid-configuration")
    print(f"First client: .venv/bin/python -m chalicelib.cli --stage {args.stage} clients create --json '{{...}}'")
    return 0


def print_next_steps(stage: Stage) -> None:
    """After ``make infra``: what is left, for a plain ``chalice deploy``."""
    cli = f".venv/bin/python -m chalicelib.cli --stage {stage.name}"
    print(f"\nStage {stage.name} is ready for: .venv/bin/chalice deploy --stage {stage.name}")
    print(f"A stage's first deploy also needs its first signing keys, once: {cli} keys rotate")
    print(f"Commit .chalice/config.json and .chalice/deployed/{stage.name}.json after the deploy.")
    if stage.custom_domain:
        print(f"chalice deploy turns the default execute-api endpoint back on: make deploy STAGE={stage.name} does not")


if __name__ == "__main__":
    raise SystemExit(main())
