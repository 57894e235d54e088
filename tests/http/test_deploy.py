"""``make deploy``: every step, in order, against fakes of CloudFormation, API Gateway, Chalice and the keys function.

No AWS is reachable from here; what these tests prove is the sequence and what
each step is given: the infrastructure stack first, least-privilege policy
files with the stack's real ARNs, ``chalice deploy``, throttling, the issuer
recorded for a stage without one, and first keys.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import infra.rest_api
from infra.deploy import Tools, deploy, main, prepare, throttling_patch
from infra.stages import CONFIG_PATH, StageError, load_stage
from tests.fake_apigateway import FakeApiGateway, FakeLambdaSettings, chalice_deploy
from tests.fake_cloudformation import ACCOUNT, REGION, FakeCloudFormation
from tests.iam_policies import may

REST_API_URL = f"https://api0000001.execute-api.{REGION}.amazonaws.com/api/"  # the first API the fake creates


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


OUTPUTS = {
    "ClientsTableArn": arn("dynamodb", "table/tollgate-dev-clients"),
    "UsersTableArn": arn("dynamodb", "table/tollgate-dev-users"),
    "StateTableArn": arn("dynamodb", "table/tollgate-dev-state"),
    "SigningKeysSecretArn": arn("secretsmanager", "secret:tollgate-dev/signing-keys-AbCdEf"),
    "PepperSecretArn": arn("secretsmanager", "secret:tollgate-dev/client-secret-pepper-GhIjKl"),
    "KeysKmsKeyArn": arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of .chalice/config.json to deploy from (the deploy writes to it), with a budget alert recipient."""
    chalice_dir = tmp_path / ".chalice"
    chalice_dir.mkdir()
    config = json.loads(CONFIG_PATH.read_text())
    for stage in config["stages"].values():
        if "budget" in stage:
            stage["budget"]["alert_email"] = "ops@acme.test"  # the committed stages ship with a placeholder
    (chalice_dir / "config.json").write_text(json.dumps(config, indent=2))
    return chalice_dir / "config.json"


def fake_tools(
    config_path: Path,
    steps: list[str],
    keys: list[Any],
    cloudformation: FakeCloudFormation | None = None,
    apigateway: FakeApiGateway | None = None,
    lambda_settings: FakeLambdaSettings | None = None,
) -> tuple[Tools, FakeCloudFormation, FakeApiGateway]:
    cloudformation, apigateway = cloudformation or FakeCloudFormation(OUTPUTS), apigateway or FakeApiGateway()

    def run_chalice(arguments: list[str]) -> None:
        steps.append("chalice " + " ".join(arguments))
        stage = arguments[arguments.index("--stage") + 1]
        issuer = json.loads(config_path.read_text())["stages"][stage]["environment_variables"].get("ISSUER_URL")
        steps.append(f"issuer at deploy: {issuer}")
        chalice_deploy(apigateway, config_path.parent, stage)

    def key_operation(function: str, operation: str) -> Any:
        steps.append(f"{function} {operation}")
        return keys

    tools = Tools(
        cloudformation,
        apigateway,
        run_chalice,
        key_operation,
        lambda_settings or FakeLambdaSettings(),
        apigateway.probe,
    )
    return tools, cloudformation, apigateway


def test_deploy_builds_infrastructure_then_policies_then_reserves_the_api_and_its_issuer_then_deploys_once(project):
    steps: list[str] = []
    tools, cloudformation, apigateway = fake_tools(project, steps, keys=[])
    issuer = deploy("dev", tools, config_path=project, say=steps.append)

    assert cloudformation.created is not None
    assert cloudformation.created["StackName"] == "tollgate-dev"
    assert cloudformation.created["Parameters"] == [
        {"ParameterKey": "NamePrefix", "ParameterValue": "tollgate-dev"},
        {"ParameterKey": "ProtectDurableTables", "ParameterValue": "false"},  # until the create succeeds
    ]
    assert issuer == REST_API_URL.rstrip("/")
    saved = json.loads(project.read_text())["stages"]["dev"]["environment_variables"]
    assert saved["ISSUER_URL"] == issuer
    deploys = [step for step in steps if step.startswith(("chalice", "issuer at deploy"))]
    assert deploys == ["chalice deploy --stage dev", f"issuer at deploy: {issuer}"]  # the issuer from the start
    assert apigateway.calls[:2] == ["create_rest_api", "put_rest_api overwrite"]  # chalice updates the reserved API
    assert [step for step in steps if step.startswith("tollgate-dev-rotate_keys")] == [
        "tollgate-dev-rotate_keys list",
        "tollgate-dev-rotate_keys rotate",
    ]
    assert apigateway.last_stage_patch == throttling_patch(load_stage("dev"))
    assert not any(call.startswith(("update_rest_api /disable", "probe")) for call in apigateway.calls)  # its issuer


def test_deploy_writes_least_privilege_policy_files_with_the_stacks_arns(project):
    tools, _, _ = fake_tools(project, [], keys=[{"kid": "k"}])
    deploy("dev", tools, config_path=project, say=lambda _: None)
    policies = {
        name: json.loads((project.parent / "policies" / f"dev-{name}.json").read_text())["Statement"]
        for name in ("api_handler", "admin", "interactions", "rotate_keys")
    }
    clients, keys = OUTPUTS["ClientsTableArn"], OUTPUTS["SigningKeysSecretArn"]
    assert may(policies["interactions"], "dynamodb:PutItem", OUTPUTS["StateTableArn"])
    assert not may(policies["interactions"], "dynamodb:PutItem", clients)
    assert may(policies["api_handler"], "dynamodb:GetItem", clients)
    assert not may(policies["api_handler"], "dynamodb:PutItem", clients)
    assert may(policies["admin"], "dynamodb:PutItem", clients)
    assert may(policies["rotate_keys"], "secretsmanager:PutSecretValue", keys)
    assert not may(policies["api_handler"], "secretsmanager:PutSecretValue", keys)
    own_logs = arn("logs", "log-group:/aws/lambda/tollgate-dev-api_handler:*")
    assert may(policies["api_handler"], "logs:PutLogEvents", own_logs)
    assert not may(policies["api_handler"], "logs:PutLogEvents", own_logs.replace("api_handler", "admin"))
    text = json.dumps(policies)
    assert "${" not in text and ACCOUNT in text  # every placeholder filled with a real ARN


def test_a_second_deploy_keeps_the_recorded_issuer_the_api_and_the_keys(project):
    steps: list[str] = []
    tools, _, apigateway = fake_tools(project, steps, keys=[])
    issuer = deploy("dev", tools, config_path=project, say=lambda _: None)
    steps.clear()
    tools, _, _ = fake_tools(project, steps, keys=[{"kid": "k"}], apigateway=apigateway)
    assert deploy("dev", tools, config_path=project, say=lambda _: None) == issuer
    assert [step for step in steps if step.startswith("chalice")] == ["chalice deploy --stage dev"]
    assert steps[-1] == "tollgate-dev-rotate_keys list"
    assert len(apigateway.apis) == 1


def test_prod_with_the_example_domain_is_refused_before_anything_runs(project):
    steps: list[str] = []
    tools, cloudformation, _ = fake_tools(project, steps, keys=[])
    with pytest.raises(StageError, match="example"):
        deploy("prod", tools, config_path=project, say=steps.append)
    assert steps == [] and cloudformation.created is None


def _with_a_real_domain(project: Path) -> None:
    config = json.loads(project.read_text())
    prod = config["stages"]["prod"]
    prod["api_gateway_custom_domain"]["domain_name"] = "auth.acme.test"
    prod["api_gateway_custom_domain"]["certificate_arn"] = arn(
        "acm", "certificate/5d1e0a9c-0000-4000-8000-aaaaaaaaaaaa"
    )
    prod["environment_variables"]["ISSUER_URL"] = "https://auth.acme.test"
    project.write_text(json.dumps(config))


def test_prod_switches_the_default_endpoint_off_then_deploys_the_stage_and_sees_403(project):
    """API Gateway applies disableExecuteApiEndpoint only with a later stage update: patch, deploy, then probe."""
    _with_a_real_domain(project)
    steps: list[str] = []
    tools, _, apigateway = fake_tools(project, steps, keys=[{"kid": "k"}])
    assert deploy("prod", tools, config_path=project, say=steps.append) == "https://auth.acme.test"
    (api,) = apigateway.apis.values()
    chalices_own = apigateway.calls.index("create_deployment api")
    ours = [call for call in apigateway.calls[chalices_own + 1 :] if not call.startswith("update_stage")]
    assert ours == [
        "update_rest_api /disableExecuteApiEndpoint=True",
        "create_deployment api",
        f"probe {apigateway.url(api.id)}.well-known/openid-configuration",
    ]
    assert "the default execute-api URL answers 403: off" in steps
    assert apigateway.probe(apigateway.url(api.id)) == 403


def test_every_deploy_switches_the_default_endpoint_off_again_after_chalice_deploy_turned_it_on(project):
    _with_a_real_domain(project)
    tools, _, apigateway = fake_tools(project, [], keys=[{"kid": "k"}])
    deploy("prod", tools, config_path=project, say=lambda _: None)
    (api,) = apigateway.apis.values()
    chalice_deploy(apigateway, project.parent, "prod")  # a plain chalice deploy overwrites the API from its swagger
    assert apigateway.probe(apigateway.url(api.id)) == 200
    deploy("prod", tools, config_path=project, say=lambda _: None)
    assert list(apigateway.apis) == [api.id] and apigateway.probe(apigateway.url(api.id)) == 403


def test_a_default_endpoint_that_keeps_answering_stops_the_deploy_with_one_line(project, monkeypatch):
    _with_a_real_domain(project)
    monkeypatch.setattr(infra.rest_api, "PROBE_PAUSE_SECONDS", 0.0)
    tools, _, _ = fake_tools(project, [], keys=[{"kid": "k"}], apigateway=FakeApiGateway(applies_switch=False))
    with pytest.raises(StageError) as failed:
        deploy("prod", tools, config_path=project, say=lambda _: None)
    message = str(failed.value)
    assert "\n" not in message and "still answers 200" in message and "execute-api" in message


def test_the_local_stage_is_never_deployed(project):
    tools, _, _ = fake_tools(project, [], keys=[])
    with pytest.raises(StageError, match="local"):
        deploy("local", tools, config_path=project, say=lambda _: None)


# --------------------------------------------------------------------------- stack states (issue 11 item 2)


def test_a_failed_first_create_leaves_nothing_behind_and_the_printed_command_makes_the_retry_work(project):
    cloudformation = FakeCloudFormation(OUTPUTS, fail_once={"create:PepperSecret"})
    tools, _, _ = fake_tools(project, [], keys=[], cloudformation=cloudformation)
    with pytest.raises(StageError) as failed:
        deploy("dev", tools, config_path=project, say=lambda _: None)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("Stack tollgate-dev is in ROLLBACK_COMPLETE")
    assert "aws cloudformation delete-stack --stack-name tollgate-dev" in message
    assert cloudformation.account == {}  # no table, key, alias or secret orphaned to clash with the retry

    cloudformation.run_cli(message)  # what the operator does with the line
    issuer = deploy("dev", tools, config_path=project, say=lambda _: None)
    assert issuer == REST_API_URL.rstrip("/")
    assert cloudformation.stacks["tollgate-dev"].status == "UPDATE_COMPLETE"


def test_data_protection_is_switched_on_only_after_the_first_create_succeeds(project):
    tools, cloudformation, _ = fake_tools(project, [], keys=[])
    deploy("dev", tools, config_path=project, say=lambda _: None)
    assert cloudformation.created is not None and not cloudformation.created["EnableTerminationProtection"]
    assert {"ParameterKey": "ProtectDurableTables", "ParameterValue": "false"} in cloudformation.created["Parameters"]
    assert cloudformation.operations[:3] == [
        "create tollgate-dev",
        "termination protection True tollgate-dev",
        "update tollgate-dev",
    ]
    stack = cloudformation.stacks["tollgate-dev"]
    assert stack.termination_protection and stack.parameters["ProtectDurableTables"] == "true"
    assert cloudformation.account["tollgate-dev-clients"].protected
    assert cloudformation.account["tollgate-dev-users"].protected
    assert not cloudformation.account["tollgate-dev-state"].protected


def test_a_failed_protection_update_is_one_line_and_the_next_deploy_finishes_it(project):
    cloudformation = FakeCloudFormation(OUTPUTS, fail_once={"update:UsersTable"})
    tools, _, _ = fake_tools(project, [], keys=[], cloudformation=cloudformation)
    with pytest.raises(
        StageError, match=r"^Stack tollgate-dev is in UPDATE_ROLLBACK_COMPLETE: [^\n]*describe-stack-events"
    ):
        deploy("dev", tools, config_path=project, say=lambda _: None)
    deploy("dev", tools, config_path=project, say=lambda _: None)
    assert cloudformation.account["tollgate-dev-clients"].protected


@pytest.mark.parametrize(
    ("status", "command"),
    [
        ("ROLLBACK_COMPLETE", "aws cloudformation delete-stack --stack-name tollgate-dev"),
        ("ROLLBACK_FAILED", "aws cloudformation delete-stack --stack-name tollgate-dev"),
        ("CREATE_FAILED", "aws cloudformation delete-stack --stack-name tollgate-dev"),
        ("DELETE_FAILED", "aws cloudformation delete-stack --stack-name tollgate-dev"),
        ("UPDATE_ROLLBACK_FAILED", "aws cloudformation continue-update-rollback --stack-name tollgate-dev"),
        ("UPDATE_FAILED", "aws cloudformation rollback-stack --stack-name tollgate-dev"),
        ("UPDATE_IN_PROGRESS", "aws cloudformation describe-stack-events --stack-name tollgate-dev"),
    ],
)
def test_a_stack_make_deploy_cannot_update_is_named_in_one_line_with_the_command_that_unblocks_it(
    project, status, command
):
    cloudformation = FakeCloudFormation(OUTPUTS)
    cloudformation.given_stack("tollgate-dev", status)
    tools, _, _ = fake_tools(project, [], keys=[], cloudformation=cloudformation)
    with pytest.raises(StageError) as failed:
        deploy("dev", tools, config_path=project, say=lambda _: None)
    assert str(failed.value).startswith(f"Stack tollgate-dev is in {status}: ")
    assert command in str(failed.value) and "\n" not in str(failed.value)
    assert cloudformation.operations == []  # neither an update CloudFormation would refuse, nor a create


def test_make_deploy_exits_non_zero_with_one_line_for_a_rolled_back_stack_created_with_termination_protection(
    capsys,
):
    """A stack created by an earlier ``make deploy`` had termination protection from the start: the line
    says to switch it off first, or delete-stack would be refused."""
    cloudformation = FakeCloudFormation(OUTPUTS)
    cloudformation.given_stack("tollgate-dev", "ROLLBACK_COMPLETE", termination_protection=True)
    tools, _, _ = fake_tools(CONFIG_PATH, [], keys=[], cloudformation=cloudformation)
    assert main(["--stage", "dev", "--infra-only"], tools) == 2  # make infra: no budget recipient needed
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: Stack tollgate-dev is in ROLLBACK_COMPLETE: ")
    assert "update-termination-protection --no-enable-termination-protection --stack-name tollgate-dev && " in line
    cloudformation.run_cli(line)
    assert cloudformation.operations[-1] == "delete tollgate-dev" and "tollgate-dev" not in {
        name for name, stack in cloudformation.stacks.items() if stack.status != "DELETE_COMPLETE"
    }


def test_deploy_turns_off_lambdas_retries_of_the_rotation_function(project):
    """EventBridge invokes rotate_keys asynchronously; Lambda's two retries of a failed run would rotate again."""
    tools, _, _ = fake_tools(project, [], keys=[{"kid": "k"}])
    deploy("dev", tools, config_path=project, say=lambda _: None)
    assert tools.lambda_.calls == [
        ("put_function_event_invoke_config", {"FunctionName": "tollgate-dev-rotate_keys", "MaximumRetryAttempts": 0})
    ]


def test_a_schedule_the_rotation_cannot_read_is_refused_before_anything_runs(project):
    config = json.loads(project.read_text())
    config["stages"]["dev"]["environment_variables"]["KEY_ROTATION_SCHEDULE"] = "every month"
    project.write_text(json.dumps(config))
    steps: list[str] = []
    tools, cloudformation, _ = fake_tools(project, steps, keys=[])
    with pytest.raises(StageError, match="KEY_ROTATION_SCHEDULE"):
        deploy("dev", tools, config_path=project, say=steps.append)
    assert steps == [] and cloudformation.created is None


# --------------------------------------------------------------------------- account limits (issue 11 item 8)


def test_the_deploy_prints_the_accounts_lambda_concurrency_next_to_the_stages_throttling(project):
    """A new account may run 10 Lambda invocations at once: a burst API Gateway lets through would fail there."""
    steps: list[str] = []
    tools, _, _ = fake_tools(project, steps, keys=[], lambda_settings=FakeLambdaSettings(concurrent=10))
    deploy("dev", tools, config_path=project, say=steps.append)
    (line,) = [step for step in steps if "burst 100" in step]
    assert "50 requests/s" in line and "Lambda concurrency 10 (10 unreserved)" in line
    assert "Concurrent executions" in line  # the Service Quotas name to ask for more


def test_an_account_with_room_for_the_burst_gets_no_warning(project):
    steps: list[str] = []
    tools, _, _ = fake_tools(project, steps, keys=[], lambda_settings=FakeLambdaSettings(1000, unreserved=900))
    deploy("dev", tools, config_path=project, say=steps.append)
    (line,) = [step for step in steps if "burst 100" in step]
    assert "Lambda concurrency 1000 (900 unreserved)" in line and "Concurrent executions" not in line


def test_the_teardown_frees_every_fixed_name_so_the_stage_can_be_created_again_at_once():
    """A secret deleted without --force-delete-without-recovery keeps its name for 7-30 days: the next create fails."""
    readme = (CONFIG_PATH.parent.parent / "README.md").read_text()
    teardown = readme[readme.index("### Teardown") : readme.index("## Performance and cost")]
    deletions = [line for line in teardown.splitlines() if line.startswith("aws secretsmanager delete-secret")]
    assert {line.split("--secret-id ")[1].split()[0] for line in deletions} == {
        "tollgate-dev/signing-keys",
        "tollgate-dev/client-secret-pepper",
    }
    assert all("--force-delete-without-recovery" in line for line in deletions)
    assert "aws dynamodb delete-table --table-name tollgate-dev-clients" in teardown


# --------------------------------------------------------------------------- make infra, then chalice deploy (item 7)


def test_after_make_infra_a_plain_chalice_deploy_serves_the_issuer_make_infra_recorded(project):
    """make infra reserves the REST API, so its URL (the issuer) is known before chalice deploy runs."""
    steps: list[str] = []
    tools, _, apigateway = fake_tools(project, steps, keys=[])
    prepare("dev", tools, config_path=project, say=steps.append)
    issuer = json.loads(project.read_text())["stages"]["dev"]["environment_variables"]["ISSUER_URL"]
    assert [path.name for path in sorted((project.parent / "policies").iterdir())] == [
        f"dev-{name}.json" for name in sorted(("api_handler", "admin", "interactions", "rotate_keys"))
    ]
    rest_api_id = chalice_deploy(apigateway, project.parent, "dev")  # what `chalice deploy --stage dev` does
    assert list(apigateway.apis) == [rest_api_id]
    assert apigateway.url(rest_api_id).rstrip("/") == issuer
    assert any("commit" in step and ".chalice/deployed/dev.json" in step for step in steps)


def _fresh_clone(project: Path, tmp_path: Path) -> Path:
    """What a CI checkout has: the committed files under .chalice, none of the ignored ones."""
    clone = tmp_path / "clone" / ".chalice"
    for path in project.parent.rglob("*.json"):
        relative = path.relative_to(project.parent.parent)
        ignored = subprocess.run(["git", "check-ignore", "-q", str(relative)], cwd=CONFIG_PATH.parent.parent)
        if ignored.returncode == 1:  # not ignored: committed with the stage
            (clone.parent / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, clone.parent / relative)
    return clone / "config.json"


def test_a_ci_deploy_from_a_fresh_clone_updates_the_same_api(project, tmp_path):
    tools, _, apigateway = fake_tools(project, [], keys=[])
    issuer = deploy("dev", tools, config_path=project, say=lambda _: None)
    clone = _fresh_clone(project, tmp_path)
    assert (clone.parent / "deployed" / "dev.json").exists() and not (clone.parent / "policies").exists()
    tools, _, _ = fake_tools(clone, [], keys=[{"kid": "k"}], apigateway=apigateway)
    assert deploy("dev", tools, config_path=clone, say=lambda _: None) == issuer
    assert len(apigateway.apis) == 1  # updated, not a second API with a second URL


def test_a_lost_deployed_record_is_found_again_from_the_execute_api_issuer(project):
    tools, _, apigateway = fake_tools(project, [], keys=[])
    deploy("dev", tools, config_path=project, say=lambda _: None)
    (project.parent / "deployed" / "dev.json").unlink()
    prepare("dev", tools, config_path=project, say=lambda _: None)
    chalice_deploy(apigateway, project.parent, "dev")
    assert len(apigateway.apis) == 1


def test_an_issuer_whose_api_is_gone_stops_make_infra_with_one_line(project):
    tools, _, _ = fake_tools(project, [], keys=[])
    deploy("dev", tools, config_path=project, say=lambda _: None)
    tools, _, _ = fake_tools(project, [], keys=[], apigateway=FakeApiGateway())  # the API was deleted since
    with pytest.raises(StageError) as failed:
        prepare("dev", tools, config_path=project, say=lambda _: None)
    message = str(failed.value)
    assert "\n" not in message and "ISSUER_URL" in message and "gone" in message


def test_the_deployed_record_is_committed_and_the_policy_files_are_not():
    """Chalice finds the API to update in .chalice/deployed/STAGE.json: a CI checkout must have it."""

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=CONFIG_PATH.parent.parent).returncode == 0

    assert not ignored(".chalice/deployed/dev.json") and not ignored(".chalice/deployed/prod.json")
    assert ignored(".chalice/policies/dev-admin.json") and ignored(".chalice/deployments/x.zip")


def test_make_infra_is_a_make_target_that_builds_vendor_and_runs_the_infra_steps_only():
    makefile = (CONFIG_PATH.parent.parent / "Makefile").read_text()
    (rule,) = [line for line in makefile.splitlines() if line.startswith("infra:")]
    assert "stage-given" in rule and "$(VENDORED)" in rule
    recipe = makefile.split("\ninfra:", 1)[1].splitlines()[1]
    assert "-m infra.deploy --stage $(STAGE) --infra-only" in recipe


def test_a_corrupt_deployed_record_stops_make_infra_with_one_line(project):
    (project.parent / "deployed").mkdir()
    (project.parent / "deployed" / "dev.json").write_text('{"resources": [')
    tools, _, _ = fake_tools(project, [], keys=[])
    with pytest.raises(StageError, match=r"^\.chalice/deployed/dev\.json is not JSON [^\n]*restore it from git$"):
        prepare("dev", tools, config_path=project, say=lambda _: None)
