"""``make package``: chalice package + merge template, linted, and least privilege read from the result.

The template is built once per test run (``chalice package`` takes seconds and
shares a wheel cache under ``.chalice/deployments``): the first xdist worker
to need it builds it under a lock, the other reuses it.  Every assertion on
permissions reads the packaged ``sam.json``: the role Chalice made for each
function, its inline policy and the separate ``AWS::IAM::Policy`` attached to it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from infra.local import TEMPLATE_PATH, load_template
from infra.package import MERGE_NAME, TEMPLATE_NAME, data_policy_resource, merge_template, package
from infra.stages import Stage, StageError, load_stage
from tests.iam_policies import grants, may

DEV_ISSUER = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/api"
CLIENTS, USERS, STATE = "${ClientsTable.Arn}", "${UsersTable.Arn}", "${StateTable.Arn}"
KEYS_SECRET, PEPPER = "${SigningKeysSecret}", "${PepperSecret}"
TABLE_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # direct upload limit of a zipped Lambda package
WAF_TEMPLATE = TEMPLATE_PATH.with_name("waf.yaml")  # make deploy applies it (infra/guards.py)
BUDGET_TEMPLATE = TEMPLATE_PATH.with_name("budget.yaml")
FUNCTIONS = ("api_handler", "admin", "interactions", "rotate_keys")
PROD_FUNCTION = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:tollgate-prod-"


@dataclass(frozen=True)
class Packaged:
    directory: Path

    @cached_property
    def template(self) -> dict[str, Any]:
        return json.loads((self.directory / TEMPLATE_NAME).read_text())

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]

    def function(self, name: str) -> dict[str, Any]:
        (found,) = [
            resource
            for resource in self.resources.values()
            if resource["Type"] == "AWS::Serverless::Function"
            and resource["Properties"].get("FunctionName", "").endswith(f"-{name}")
        ]
        return found

    def role_of(self, function: str) -> str:
        role = self.function(function)["Properties"]["Role"]
        assert role["Fn::GetAtt"][1] == "Arn"
        return str(role["Fn::GetAtt"][0])

    def statements(self, function: str) -> list[dict[str, Any]]:
        """Every statement that applies to the function's role: inline policies and attached AWS::IAM::Policy."""
        role = self.role_of(function)
        found = [
            statement
            for policy in self.resources[role]["Properties"].get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]
        ]
        for resource in self.resources.values():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"]:
                found += resource["Properties"]["PolicyDocument"]["Statement"]
        return found


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory common to every xdist worker of this run (the run's base temp dir)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _packaged(shared_dir: Path, stage: str, issuer: str | None = None) -> Packaged:
    out = shared_dir / f"package-{stage}"
    with _exclusive(shared_dir / "package.lock"):
        if not (out / TEMPLATE_NAME).exists():
            package(stage, out, issuer_override=issuer)
    return Packaged(out)


@pytest.fixture(scope="session")
def prod(shared_dir: Path) -> Packaged:
    return _packaged(shared_dir, "prod")


@pytest.fixture(scope="session")
def dev(shared_dir: Path) -> Packaged:
    return _packaged(shared_dir, "dev", DEV_ISSUER)


def cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run([str(cfn_lint), *map(str, paths)], capture_output=True, text=True, check=False)


# --------------------------------------------------------------------------- the template


def test_packaged_templates_and_infrastructure_templates_pass_cfn_lint(prod: Packaged, dev: Packaged):
    templates = [
        prod.directory / TEMPLATE_NAME,
        dev.directory / TEMPLATE_NAME,
        TEMPLATE_PATH,
        WAF_TEMPLATE,
        BUDGET_TEMPLATE,
    ]
    result = cfn_lint(*templates)  # one run: cfn-lint takes seconds to start
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_template_carries_the_app_and_every_infrastructure_resource(prod: Packaged):
    infrastructure = load_template()
    assert set(infrastructure["Resources"]) <= set(prod.resources)
    assert set(infrastructure["Outputs"]) <= set(prod.template["Outputs"])
    assert prod.template["Parameters"]["NamePrefix"]["Default"] == "tollgate-prod"
    names = {prod.function(name)["Properties"]["FunctionName"] for name in FUNCTIONS}
    assert names == {f"tollgate-prod-{name}" for name in FUNCTIONS}


def test_merge_template_is_plain_json_without_yaml_tags_or_aliases(prod: Packaged):
    text = (prod.directory / MERGE_NAME).read_text()
    merged = json.loads(text)
    assert "!Sub" not in text and "!Ref" not in text and "&" not in text
    assert merged["Resources"]["ClientsTable"]["Properties"]["TableName"] == {"Fn::Sub": "${NamePrefix}-clients"}


def test_each_function_has_its_own_role(prod: Packaged):
    roles = {prod.role_of(name) for name in FUNCTIONS}
    assert len(roles) == len(FUNCTIONS)
    assert "DefaultRole" not in prod.resources  # autogen_policy: false, one iam_policy_file each


def test_lambda_package_is_small_enough(prod: Packaged):
    size = (prod.directory / "deployment.zip").stat().st_size
    with zipfile.ZipFile(prod.directory / "deployment.zip") as archive:
        names = archive.namelist()
    assert size < LAMBDA_ZIP_LIMIT
    assert "app.py" in names and "chalicelib/keys/kms_mode.py" in names
    assert not any(name.startswith(("tests/", "infra/", "bench/")) for name in names)


def test_the_cost_model_prices_the_architecture_the_package_is_built_for(prod: Packaged):
    """bench/cost.py bills Lambda GB-seconds at one architecture's price; the template and the wheels agree."""
    from bench.cost import GB_SECOND_PRICE, LAMBDA_ARCHITECTURE, PRICES

    for name in FUNCTIONS:
        assert prod.function(name)["Properties"]["Architectures"] == [LAMBDA_ARCHITECTURE], name
    assert PRICES["lambda_gb_second"] == GB_SECOND_PRICE[LAMBDA_ARCHITECTURE]
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[LAMBDA_ARCHITECTURE]
    with zipfile.ZipFile(prod.directory / "deployment.zip") as archive:
        tags = [
            line.removeprefix("Tag: ").rsplit("-", 1)[1]
            for name in archive.namelist()
            if name.endswith(".dist-info/WHEEL")
            for line in archive.read(name).decode().splitlines()
            if line.startswith("Tag: ")
        ]
    assert tags and all(tag == "any" or tag.endswith(f"_{machine}") for tag in tags), tags
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"1,024 MB {LAMBDA_ARCHITECTURE} Lambda" in readme


def test_stage_without_issuer_cannot_be_packaged_without_one():
    with pytest.raises(StageError, match="ISSUER_URL"):
        package("dev", Path("/nonexistent"))


def test_dev_issuer_given_at_packaging_reaches_every_function(dev: Packaged):
    for name in FUNCTIONS:
        assert dev.function(name)["Properties"]["Environment"]["Variables"]["ISSUER_URL"] == DEV_ISSUER


# --------------------------------------------------------------------------- least privilege


def test_api_handler_reads_clients_and_users_but_never_writes_them(prod: Packaged):
    api = prod.statements("api_handler")
    for table in (CLIENTS, USERS):
        assert may(api, "dynamodb:GetItem", table)
        for action in (*TABLE_WRITES, "dynamodb:Scan"):
            assert not may(api, action, table), (action, table)


def test_api_handler_reads_and_writes_state_and_reads_keys_and_pepper(prod: Packaged):
    api = prod.statements("api_handler")
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert may(api, action, STATE)
    assert may(api, "dynamodb:Query", STATE + "/index/grant_id-index")
    assert may(api, "secretsmanager:GetSecretValue", KEYS_SECRET)
    assert may(api, "secretsmanager:GetSecretValue", PEPPER)
    assert not may(api, "secretsmanager:PutSecretValue", KEYS_SECRET)
    assert not may(api, "lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:111122223333:function:tollgate-prod-admin")


def test_api_handler_touches_nothing_else(prod: Packaged):
    allowed = {
        CLIENTS, USERS, USERS + "/index/*", STATE, STATE + "/index/*", KEYS_SECRET, PEPPER, "${KeysKmsKey.Arn}",
    }  # fmt: skip
    data = {grant.resource for grant in grants(prod.statements("api_handler")) if ":logs:" not in grant.resource}
    assert data == allowed


def test_only_the_admin_function_writes_clients_and_users(prod: Packaged):
    admin = prod.statements("admin")
    for table in (CLIENTS, USERS):
        assert may(admin, "dynamodb:PutItem", table) and may(admin, "dynamodb:DeleteItem", table)
    for function in ("api_handler", "interactions", "rotate_keys"):
        for table in (CLIENTS, USERS):
            assert not any(may(prod.statements(function), action, table) for action in TABLE_WRITES), function


def test_only_the_rotation_function_writes_the_signing_key_secret(prod: Packaged):
    assert may(prod.statements("rotate_keys"), "secretsmanager:PutSecretValue", KEYS_SECRET)
    for function in ("api_handler", "admin", "interactions"):
        assert not may(prod.statements(function), "secretsmanager:PutSecretValue", KEYS_SECRET), function
    assert not may(prod.statements("admin"), "secretsmanager:GetSecretValue", KEYS_SECRET)


def test_admin_asks_the_rotation_function_instead_of_holding_keys(prod: Packaged):
    admin = prod.statements("admin")
    rotate = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:tollgate-prod-rotate_keys"
    assert may(admin, "lambda:InvokeFunction", rotate)
    assert not may(admin, "lambda:InvokeFunction", rotate.replace("rotate_keys", "api_handler"))


def test_login_app_function_answers_challenges_and_can_do_nothing_else(prod: Packaged):
    interactions = prod.statements("interactions")
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert may(interactions, action, STATE)
    assert may(interactions, "dynamodb:Query", STATE + "/index/user_code-index")  # device.accept
    assert may(interactions, "dynamodb:GetItem", CLIENTS)  # the client a challenge names
    for table in (CLIENTS, USERS):
        for action in (*TABLE_WRITES, "dynamodb:Scan"):
            assert not may(interactions, action, table), (action, table)
    data = {grant.resource for grant in grants(interactions) if ":logs:" not in grant.resource}
    # No Users, signing keys or other functions; the pepper only to open sealed login_hints (login get).
    assert data == {CLIENTS, STATE, STATE + "/index/*", PEPPER, "${KeysKmsKey.Arn}"}
    assert not may(interactions, "secretsmanager:GetSecretValue", KEYS_SECRET)


def test_no_function_may_invoke_the_admin_or_the_interactions_function(prod: Packaged):
    for function in FUNCTIONS:
        for target in ("admin", "interactions"):
            assert not may(prod.statements(function), "lambda:InvokeFunction", PROD_FUNCTION + target), function


def test_kms_mode_template_lets_rotation_tag_only_the_keys_it_creates():
    prod_stage = load_stage("prod")
    kms = Stage("prod", {**prod_stage.config, "environment_variables": {**prod_stage.environment, "KEY_MODE": "kms"}})
    resource = merge_template(kms)["Resources"][data_policy_resource("rotate_keys")]
    rotation = resource["Properties"]["PolicyDocument"]["Statement"]
    key = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    tag = "aws:RequestTag/tollgate-keyset"
    tagging = {tag: "alias/tollgate-prod-signing", "aws:TagKeys": ["tollgate-keyset"]}  # tag-on-create's check
    creating = {**tagging, "kms:KeyUsage": "SIGN_VERIFY", "kms:KeySpec": "ECC_NIST_P256"}
    assert may(rotation, "kms:CreateKey", "*", creating) and may(rotation, "kms:TagResource", key, tagging)
    assert not may(rotation, "kms:TagResource", key, {**tagging, "kms:ResourceAliases": ["alias/someone-elses"]})
    assert not may(rotation, "kms:TagResource", key, {**tagging, tag: "alias/tollgate-dev-signing"})
    other_stages_key = {**tagging, "aws:ResourceTag/tollgate-keyset": "alias/tollgate-dev-signing"}
    assert not may(rotation, "kms:TagResource", key, other_stages_key)
    assert [grant.resource for grant in grants(rotation) if grant.resource == "*"] == ["*"]  # CreateKey's alone


def test_rotation_function_touches_no_table(prod: Packaged):
    rotation = prod.statements("rotate_keys")
    assert not any(grant.action.startswith("dynamodb:") for grant in grants(rotation))


def test_every_statement_names_resource_arns_and_no_action_wildcards(prod: Packaged, dev: Packaged):
    for packaged in (prod, dev):
        for function in FUNCTIONS:
            for grant in grants(packaged.statements(function)):
                assert grant.resource != "*", (function, grant)
                assert "*" not in grant.action, (function, grant)
                assert grant.resource.startswith(("arn:", "${")), (function, grant)


def test_each_function_writes_only_its_own_log_group(prod: Packaged):
    for function in FUNCTIONS:
        logs = [grant for grant in grants(prod.statements(function)) if grant.action.startswith("logs:")]
        assert logs and all(f"log-group:/aws/lambda/tollgate-prod-{function}" in grant.resource for grant in logs)


# --------------------------------------------------------------------------- schedule and API Gateway


def test_rotation_runs_on_the_configured_schedule_and_is_never_retried(prod: Packaged):
    rotation = prod.function("rotate_keys")["Properties"]
    (event,) = rotation["Events"].values()
    schedule = load_stage("prod").environment["KEY_ROTATION_SCHEDULE"]
    assert event == {"Type": "Schedule", "Properties": {"Schedule": schedule}}
    # A cron() fires at set times; a rate() countdown starts again whenever a deploy rewrites the rule.
    assert schedule.startswith("cron(")
    # EventBridge invokes asynchronously: Lambda would retry a failed run twice, rotating twice in a period.
    assert rotation["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}
    # No reserved concurrency: a new account (concurrency quota 10) could not deploy it. Races are handled instead.
    assert "ReservedConcurrentExecutions" not in rotation


def test_api_gateway_is_throttled_per_stage(prod: Packaged, dev: Packaged):
    for packaged, rate, burst in ((prod, 500, 1000), (dev, 50, 100)):
        (settings,) = packaged.resources["RestAPI"]["Properties"]["MethodSettings"]
        assert settings["ResourcePath"] == "/*" and settings["HttpMethod"] == "*"
        assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (rate, burst)


def test_custom_domain_requires_tls_1_2_and_is_the_only_way_in(prod: Packaged, dev: Packaged):
    domain = prod.resources["ApiGatewayCustomDomain"]["Properties"]
    assert domain["SecurityPolicy"] == "TLS_1_2"
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert prod.resources["RestAPI"]["Properties"]["DisableExecuteApiEndpoint"] is True
    assert "DisableExecuteApiEndpoint" not in dev.resources["RestAPI"]["Properties"]  # its issuer is that endpoint


def test_custom_domain_mapping_is_created_after_the_api_stage_it_names(prod: Packaged, dev: Packaged):
    """Chalice maps the domain to the literal stage name without a dependency, so CloudFormation may create
    the mapping first and fail with "Invalid stage identifier specified" (aws/chalice#1735)."""
    stage_name = prod.resources["RestAPI"]["Properties"]["StageName"]
    mapping = prod.resources["ApiGatewayCustomDomainMapping"]
    assert mapping["Properties"]["Stage"] == stage_name
    # SAM names the stage it generates <api-LogicalId><stage-name>Stage (AWS SAM: generated resources).
    assert f"RestAPI{stage_name}Stage" in mapping["DependsOn"]
    assert "ApiGatewayCustomDomainMapping" not in dev.resources  # no domain, no half-declared mapping


def test_a_stage_name_sam_would_hash_cannot_be_packaged_with_a_custom_domain():
    prod_stage = load_stage("prod")
    with pytest.raises(StageError, match="api_gateway_stage"):
        merge_template(Stage("prod", {**prod_stage.config, "api_gateway_stage": "v-1"}))


def test_cors_preflights_reach_the_api_handler_only_on_the_browser_endpoints(prod: Packaged):
    """Our OPTIONS routes are Lambda proxy integrations, not Chalice's static mock; other paths have none,
    so API Gateway refuses a preflight there (DESIGN §4: the authorization endpoint and pages answer no CORS)."""
    paths = prod.resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    with_preflight = {path for path, methods in paths.items() if "options" in methods}
    assert with_preflight == {
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/device/auth",
        "/userinfo",
    }
    for path in with_preflight:
        assert paths[path]["options"]["x-amazon-apigateway-integration"]["type"] == "aws_proxy"


# --------------------------------------------------------------------------- what bounds the bill


def test_the_api_function_has_the_stages_reserved_concurrency(prod: Packaged, dev: Packaged):
    for packaged, stage in ((prod, "prod"), (dev, "dev")):
        reserved = load_stage(stage).config["lambda_functions"]["api_handler"]["reserved_concurrency"]
        assert packaged.function("api_handler")["Properties"]["ReservedConcurrentExecutions"] == reserved >= 1
        for function in ("admin", "interactions", "rotate_keys"):
            assert "ReservedConcurrentExecutions" not in packaged.function(function)["Properties"], function


def test_the_budget_alarm_is_in_the_packaged_template_with_the_stages_amount_and_recipient(prod: Packaged):
    (budget,) = [r["Properties"] for r in prod.resources.values() if r["Type"] == "AWS::Budgets::Budget"]
    parameters = prod.template["Parameters"]
    settings = load_stage("prod").config["budget"]
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "BudgetMonthlyUsd"}, "Unit": "USD"}
    assert (budget["Budget"]["TimeUnit"], budget["Budget"]["BudgetType"]) == ("MONTHLY", "COST")
    assert parameters["BudgetMonthlyUsd"]["Default"] == settings["monthly_usd"]
    assert parameters["BudgetAlertEmail"]["Default"] == settings["alert_email"]
    notifications = {
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"])
        for n in budget["NotificationsWithSubscribers"]
    }
    assert notifications == {("ACTUAL", 80), ("FORECASTED", 100)}
    for notification in budget["NotificationsWithSubscribers"]:
        email, topic = notification["Subscribers"]
        assert email["Fn::If"][:2] == [
            "HasAlertEmail",
            {"SubscriptionType": "EMAIL", "Address": {"Ref": "BudgetAlertEmail"}},
        ]
        assert topic["Fn::If"][1] == {"SubscriptionType": "SNS", "Address": {"Ref": "BudgetAlertSnsTopicArn"}}
