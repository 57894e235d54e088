"""``make deploy``: every step, in order, against fakes of CloudFormation, API Gateway, Chalice and the keys function.

No AWS is reachable from here; what these tests prove is the sequence and what
each step is given: the infrastructure stack first, least-privilege policy
files with the stack's real ARNs, ``chalice deploy``, throttling, the issuer
recorded for a stage without one, and first keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.deploy import Tools, deploy, throttling_patch
from infra.stages import CONFIG_PATH, StageError, load_stage
from tests.iam_policies import may

ACCOUNT, REGION = "111122223333", "eu-west-1"
REST_API_URL = f"https://abc123defg.execute-api.{REGION}.amazonaws.com/api/"


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


class FakeCloudFormation:
    """Stacks by name; ``created`` is the first one, the infrastructure (the WAF and budget stacks follow)."""

    exceptions = type("Exceptions", (), {"ClientError": ClientError})

    def __init__(self) -> None:
        self.stacks: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    @property
    def created(self) -> dict[str, Any] | None:
        return next(iter(self.stacks.values()), None)

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            raise ClientError({"Error": {"Message": f"Stack with id {StackName} does not exist"}}, "DescribeStacks")
        outputs = [{"OutputKey": key, "OutputValue": value} for key, value in OUTPUTS.items()]
        return {"Stacks": [{"StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]}

    def create_stack(self, **arguments: Any) -> None:
        self.calls.append(("create_stack", arguments["StackName"]))
        self.stacks[arguments["StackName"]] = arguments

    def update_stack(self, **arguments: Any) -> None:
        self.calls.append(("update_stack", arguments["StackName"]))
        self.stacks[arguments["StackName"]] = arguments

    def delete_stack(self, StackName: str) -> None:
        self.calls.append(("delete_stack", StackName))
        del self.stacks[StackName]

    def get_waiter(self, name: str) -> Any:
        return type("Waiter", (), {"wait": lambda self, **_: None})()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda **arguments: self.calls.append((name, arguments))


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


def fake_tools(config_path: Path, steps: list[str], keys: list[Any]) -> tuple[Tools, FakeCloudFormation, Recorder]:
    cloudformation, apigateway = FakeCloudFormation(), Recorder()

    def run_chalice(arguments: list[str]) -> None:
        steps.append("chalice " + " ".join(arguments))
        issuer = json.loads(config_path.read_text())["stages"]["dev"]["environment_variables"].get("ISSUER_URL")
        steps.append(f"issuer at deploy: {issuer}")
        deployed = config_path.parent / "deployed"
        deployed.mkdir(exist_ok=True)
        record = {
            "resources": [{"resource_type": "rest_api", "rest_api_id": "abc123defg", "rest_api_url": REST_API_URL}]
        }
        (deployed / "dev.json").write_text(json.dumps(record))

    def key_operation(function: str, operation: str) -> Any:
        steps.append(f"{function} {operation}")
        return keys

    return Tools(cloudformation, apigateway, run_chalice, key_operation), cloudformation, apigateway


def test_deploy_builds_infrastructure_then_policies_then_the_app_then_records_the_issuer(project):
    steps: list[str] = []
    tools, cloudformation, apigateway = fake_tools(project, steps, keys=[])
    issuer = deploy("dev", tools, config_path=project, say=steps.append)

    assert cloudformation.created is not None
    assert cloudformation.created["StackName"] == "tollgate-dev"
    assert cloudformation.created["Parameters"] == [{"ParameterKey": "NamePrefix", "ParameterValue": "tollgate-dev"}]
    assert issuer == REST_API_URL.rstrip("/")
    saved = json.loads(project.read_text())["stages"]["dev"]["environment_variables"]
    assert saved["ISSUER_URL"] == issuer
    deploys = [step for step in steps if step.startswith(("chalice", "issuer at deploy"))]
    assert deploys == [
        "chalice deploy --stage dev",
        "issuer at deploy: None",
        "chalice deploy --stage dev",
        f"issuer at deploy: {issuer}",
    ]
    assert [step for step in steps if step.startswith("tollgate-dev-rotate_keys")] == [
        "tollgate-dev-rotate_keys list",
        "tollgate-dev-rotate_keys rotate",
    ]
    assert apigateway.calls == [
        (
            "update_stage",
            {"restApiId": "abc123defg", "stageName": "api", "patchOperations": throttling_patch(load_stage("dev"))},
        )
    ]


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


def test_a_second_deploy_keeps_the_recorded_issuer_and_the_keys(project):
    steps: list[str] = []
    tools, _, _ = fake_tools(project, steps, keys=[])
    deploy("dev", tools, config_path=project, say=lambda _: None)
    steps.clear()
    tools, _, _ = fake_tools(project, steps, keys=[{"kid": "k"}])
    deploy("dev", tools, config_path=project, say=lambda _: None)
    assert [step for step in steps if step.startswith("chalice")] == ["chalice deploy --stage dev"]
    assert steps[-1] == "tollgate-dev-rotate_keys list"


def test_prod_with_the_example_domain_is_refused_before_anything_runs(project):
    steps: list[str] = []
    tools, cloudformation, _ = fake_tools(project, steps, keys=[])
    with pytest.raises(StageError, match="example"):
        deploy("prod", tools, config_path=project, say=steps.append)
    assert steps == [] and cloudformation.created is None


def test_prod_with_a_real_domain_also_switches_off_the_execute_api_endpoint(project):
    config = json.loads(project.read_text())
    prod = config["stages"]["prod"]
    prod["api_gateway_custom_domain"]["domain_name"] = "auth.acme.test"
    prod["api_gateway_custom_domain"]["certificate_arn"] = arn(
        "acm", "certificate/5d1e0a9c-0000-4000-8000-aaaaaaaaaaaa"
    )
    prod["environment_variables"]["ISSUER_URL"] = "https://auth.acme.test"
    project.write_text(json.dumps(config))
    steps: list[str] = []
    tools, _, apigateway = fake_tools(project, steps, keys=[{"kid": "k"}])
    tools = Tools(
        tools.cloudformation, tools.apigateway, lambda arguments: _fake_prod_deploy(project), tools.key_operation
    )
    assert deploy("prod", tools, config_path=project, say=steps.append) == "https://auth.acme.test"
    assert [name for name, _ in apigateway.calls] == ["update_stage", "update_rest_api"]
    assert apigateway.calls[1][1]["patchOperations"] == [
        {"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "True"}
    ]


def _fake_prod_deploy(config_path: Path) -> None:
    deployed = config_path.parent / "deployed"
    deployed.mkdir(exist_ok=True)
    record = {"resources": [{"resource_type": "rest_api", "rest_api_id": "p", "rest_api_url": REST_API_URL}]}
    (deployed / "prod.json").write_text(json.dumps(record))


def test_the_local_stage_is_never_deployed(project):
    tools, _, _ = fake_tools(project, [], keys=[])
    with pytest.raises(StageError, match="local"):
        deploy("local", tools, config_path=project, say=lambda _: None)
