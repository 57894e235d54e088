"""infra/resources.yaml: it lints clean, and apply_template builds exactly what it declares.

apply_template runs here inside ``moto.mock_aws()``, as the unit-test fixtures
use it; every assertion reads the result back through describe calls.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import ENVIRONMENT
from infra.local import TEMPLATE_PATH, AppliedTemplate, TemplateError, apply_template, load_template

REGION = "us-east-1"


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppliedTemplate]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield apply_template()


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_short_tags_load_as_intrinsic_functions() -> None:
    resources = load_template()["Resources"]
    assert resources["ClientsTable"]["Properties"]["TableName"] == {"Fn::Sub": "${NamePrefix}-clients"}
    assert resources["KeysKmsKeyAlias"]["Properties"]["TargetKeyId"] == {"Ref": "KeysKmsKey"}
    assert load_template()["Outputs"]["KeysKmsKeyArn"]["Value"] == {"Fn::GetAtt": ["KeysKmsKey", "Arn"]}


RETAINED = ("Retain", "RetainExceptOnCreate")


def test_what_the_stack_retains_is_still_deleted_when_its_own_first_create_rolls_back() -> None:
    """A failed first create must not orphan fixed-name resources: the retry would fail with "already exists".
    ``RetainExceptOnCreate`` keeps ``Retain`` after that first success; UpdateReplacePolicy has no such
    value (Delete, Retain, Snapshot), so it stays ``Retain``."""
    resources = load_template()["Resources"]
    retained = {name for name, resource in resources.items() if resource.get("DeletionPolicy") in RETAINED}
    assert {"ClientsTable", "UsersTable", "KeysKmsKey", "SigningKeysSecret", "PepperSecret"} <= retained
    for name in retained:
        assert resources[name]["DeletionPolicy"] == "RetainExceptOnCreate", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name


def test_durable_tables_are_deletable_until_the_first_create_succeeds() -> None:
    """CloudFormation cannot delete a table with deletion protection, so a rollback of the first create would
    fail (ROLLBACK_FAILED) and keep it: protection follows a parameter ``make deploy`` turns on afterwards."""
    template = load_template()
    parameter = template["Parameters"]["ProtectDurableTables"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("true", ["true", "false"])
    for name in ("ClientsTable", "UsersTable"):
        protection = template["Resources"][name]["Properties"]["DeletionProtectionEnabled"]
        assert protection == {"Ref": "ProtectDurableTables"}, name


def test_tables_get_their_key_schemas_and_on_demand_billing(applied: AppliedTemplate) -> None:
    expected_keys = {"ClientsTable": "client_id", "UsersTable": "user_id", "StateTable": "pk"}
    assert set(applied.tables) == set(expected_keys)
    for logical_id, hash_key in expected_keys.items():
        table = client("dynamodb").describe_table(TableName=applied.tables[logical_id])["Table"]
        assert table["KeySchema"] == [{"AttributeName": hash_key, "KeyType": "HASH"}]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_durable_tables_have_point_in_time_recovery_and_deletion_protection(applied: AppliedTemplate) -> None:
    dynamodb = client("dynamodb")
    for logical_id in ("ClientsTable", "UsersTable"):
        name = applied.tables[logical_id]
        assert dynamodb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is True
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_state_table_expires_items_on_expires_at(applied: AppliedTemplate) -> None:
    ttl = client("dynamodb").describe_time_to_live(TableName=applied.tables["StateTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_indexes_on_grant_id_user_code_subject_and_username(applied: AppliedTemplate) -> None:
    def indexes(logical_id: str) -> dict[str, tuple[str, str]]:
        table = client("dynamodb").describe_table(TableName=applied.tables[logical_id])["Table"]
        return {
            index["IndexName"]: (index["KeySchema"][0]["AttributeName"], index["Projection"]["ProjectionType"])
            for index in table.get("GlobalSecondaryIndexes", [])
        }

    assert indexes("StateTable") == {
        "grant_id-index": ("grant_id", "KEYS_ONLY"),
        "user_code-index-v2": ("user_code", "INCLUDE"),
        "subject-index": ("subject", "KEYS_ONLY"),
    }
    assert indexes("UsersTable") == {"username-index": ("username", "ALL")}
    assert indexes("ClientsTable") == {}


def test_a_kept_local_table_gets_a_renamed_index_in_place_of_the_old_one(applied: AppliedTemplate) -> None:
    dynamodb, table = client("dynamodb"), applied.tables["StateTable"]
    definitions = [{"AttributeName": "user_code", "AttributeType": "S"}]
    dynamodb.update_table(
        TableName=table,
        AttributeDefinitions=definitions,
        GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "user_code-index-v2"}}],
    )
    old = {"IndexName": "user_code-index", "KeySchema": [{"AttributeName": "user_code", "KeyType": "HASH"}]}
    dynamodb.update_table(
        TableName=table,
        AttributeDefinitions=definitions,
        GlobalSecondaryIndexUpdates=[{"Create": {**old, "Projection": {"ProjectionType": "ALL"}}}],
    )
    apply_template()
    indexes = dynamodb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(index["IndexName"] for index in indexes) == ["grant_id-index", "subject-index", "user_code-index-v2"]


def test_kms_key_is_symmetric_rotating_and_aliased(applied: AppliedTemplate) -> None:
    kms = client("kms")
    key = kms.describe_key(KeyId="alias/tollgate-keys")["KeyMetadata"]
    assert key["Arn"] == applied.kms_keys["KeysKmsKey"] == applied.outputs["KeysKmsKeyArn"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}


def test_secrets_are_encrypted_with_the_key(applied: AppliedTemplate) -> None:
    secrets, key_id = client("secretsmanager"), applied.kms_keys["KeysKmsKey"].rsplit("/", 1)[1]
    assert applied.secrets == {
        "SigningKeysSecret": "tollgate/signing-keys",
        "PepperSecret": "tollgate/client-secret-pepper",
    }
    for name in applied.secrets.values():
        assert secrets.describe_secret(SecretId=name)["KmsKeyId"] in (key_id, applied.kms_keys["KeysKmsKey"])


def test_signing_key_secret_starts_empty_and_pepper_is_generated(applied: AppliedTemplate) -> None:
    secrets = client("secretsmanager")
    keyset = json.loads(secrets.get_secret_value(SecretId=applied.secrets["SigningKeysSecret"])["SecretString"])
    assert keyset == {"keys": []}
    pepper = secrets.get_secret_value(SecretId=applied.secrets["PepperSecret"])["SecretString"]
    assert len(pepper) >= 43  # 256 random bits, URL-safe base64


def test_applying_twice_changes_nothing(applied: AppliedTemplate) -> None:
    secrets = client("secretsmanager")
    pepper = secrets.get_secret_value(SecretId=applied.secrets["PepperSecret"])["SecretString"]
    assert apply_template() == applied
    assert secrets.get_secret_value(SecretId=applied.secrets["PepperSecret"])["SecretString"] == pepper
    assert len(client("kms").list_keys()["Keys"]) == 1


def test_outputs_name_what_the_app_settings_default_to(applied: AppliedTemplate) -> None:
    defaults = {name: default for name, default, _ in ENVIRONMENT}
    settings = applied.settings_env()
    assert settings == {name: defaults[name] for name in settings}
    assert set(settings) == {"CLIENTS_TABLE", "USERS_TABLE", "STATE_TABLE", "KEYS_SECRET_ID", "PEPPER_SECRET_ID"}


def test_name_prefix_parameter_renames_every_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        applied = apply_template(parameters={"NamePrefix": "acme"})
        assert sorted(client("dynamodb").list_tables()["TableNames"]) == ["acme-clients", "acme-state", "acme-users"]
        assert applied.outputs["KeysKmsKeyAliasName"] == "alias/acme-keys"
        assert applied.settings_env()["KEYS_SECRET_ID"] == "acme/signing-keys"


def test_a_resource_type_local_cannot_build_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(), pytest.raises(TemplateError, match="AWS::SQS::Queue"):
        apply_template(template_path=template)


# --------------------------------------------------------------------------- secrets' initial values (issue 11 item 9)

# What decides a secret's value on a stack update: a changed SecretString or GenerateSecretString is written
# (or generated) as a new AWSCURRENT version; a new Name or logical id replaces the secret with a fresh one.
SECRET_VALUE_PROPERTIES = ("Name", "SecretString", "GenerateSecretString")
PINNED_SECRET_VALUES = "a596cdf3dcab17f431486c66670d15673f796903885439ed477b71467ee2ca46"
MIGRATION_NOTE = 'README.md, "Deploying to AWS" > "Secrets the template must not rewrite"'


def test_the_migration_note_the_pin_points_at_exists() -> None:
    readme = (TEMPLATE_PATH.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "### Secrets the template must not rewrite" in readme and "PINNED_SECRET_VALUES" in readme


def secret_values_fingerprint(template: dict[str, Any]) -> str:
    secrets = {
        logical_id: {key: resource.get("Properties", {}).get(key) for key in SECRET_VALUE_PROPERTIES}
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    }
    return hashlib.sha256(json.dumps(secrets, sort_keys=True).encode()).hexdigest()


def test_the_initial_values_of_the_secrets_are_pinned() -> None:
    """On a deployed stage the key set and the pepper live only in Secrets Manager: an edit here would make the
    next update overwrite them (every token and every client secret invalid) or replace the secrets."""
    assert secret_values_fingerprint(load_template()) == PINNED_SECRET_VALUES, (
        f"SecretString, GenerateSecretString or Name of a secret in infra/resources.yaml changed: on a deployed "
        f"stage the next update overwrites or replaces the live signing keys / pepper. Follow {MIGRATION_NOTE}, "
        f"then pin the new value here"
    )


def _edited(edit: Any) -> str:
    template = load_template()
    edit(template["Resources"])
    return secret_values_fingerprint(template)


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r["SigningKeysSecret"]["Properties"].update(SecretString='{"keys":[]}'),
        lambda r: r["PepperSecret"]["Properties"]["GenerateSecretString"].update(PasswordLength=63),
        lambda r: r["PepperSecret"]["Properties"]["GenerateSecretString"].update(ExcludeCharacters="/"),
        lambda r: r["PepperSecret"]["Properties"].update(Name="tollgate/pepper"),
        lambda r: r.update(Pepper=r.pop("PepperSecret")),
    ],
    ids=["secret-string", "password-length", "generator-option", "name", "logical-id"],
)
def test_every_edit_that_would_rewrite_a_live_secret_breaks_the_pin(edit: Any) -> None:
    assert _edited(edit) != secret_values_fingerprint(load_template())


def test_edits_that_keep_the_value_leave_the_pin_alone() -> None:
    def describe_and_tag(resources: dict[str, Any]) -> None:
        for name in ("SigningKeysSecret", "PepperSecret"):
            resources[name]["Properties"].update(Description="edited", Tags=[{"Key": "team", "Value": "id"}])

    assert _edited(describe_and_tag) == secret_values_fingerprint(load_template())
