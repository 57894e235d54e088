"""``kms`` mode's first rotation on a real account: a new key is usable at once by the roles that need it.

On AWS, permissions granted by the ``tollgate-keyset`` tag through IAM reach
a new key minutes after ``CreateKey`` (ABAC is eventually consistent), so
``CreateAlias`` right after it, or the first ``Sign`` with the first keys,
is denied.  :class:`PropagatingKms` wraps moto with that behaviour: until a
key's tags have "settled", only what its key policy grants a role by name
works; it also checks what KMS checks of a key policy at ``CreateKey`` (the
lockout safety check, principals that exist).  Rotation therefore creates
keys whose policy names the rotation and API roles, and never leaves a key
it created without an alias (an orphan is scheduled for deletion).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError

from chalicelib import aws as aws_clients
from chalicelib import services
from chalicelib.config import settings
from chalicelib.keys import kms_mode, rotation
from chalicelib.keys.kms_mode import KEYSET_TAG, alias_name
from chalicelib.oauth.errors import InvalidRequest
from infra.package import merge_template
from infra.stages import Stage, load_stage
from tests.conftest import FORM, basic

PREFIX = "alias/tollgate-test-signing"
ACCOUNT = "123456789012"  # moto's
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
API_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tollgate-test-api_handler"
ROTATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tollgate-test-rotate_keys"
ALIAS_MOVES = ("CreateAlias", "UpdateAlias")
# What each operation names: the key it is authorised against.
KEY_PARAMS = {"Sign": "KeyId", "GetPublicKey": "KeyId", "DescribeKey": "KeyId", "ScheduleKeyDeletion": "KeyId"}


def _denied(operation: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, operation)


class PropagatingKms:
    """moto's KMS, with a new key's tag-based (IAM) permissions arriving late, as on AWS.

    ``caller`` is the role making the app's calls.  A key is "settled" once its
    tags have reached IAM (every key that existed when this was installed, and
    every key after :meth:`settle`); before that, an operation on it works
    only if its key policy names the caller for that action.
    ``deny_alias_moves`` makes the next N alias moves onto an unsettled key
    fail anyway (a role's own permission still on its way).
    """

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles
        self.caller = roles[0]
        self.deny_alias_moves = 0
        self._kms = boto3.client("kms", region_name="us-east-1")  # reads moto's state, unwatched
        self.settled: set[str] = set()
        self.settle()

    def install(self) -> None:
        aws_clients.client("kms").meta.events.register("provide-client-params.kms.*", self._check)

    def settle(self) -> None:
        """Minutes later: every existing key's tags have reached IAM."""
        self.settled = {key["KeyId"] for key in self._kms.list_keys()["Keys"]}

    @contextmanager
    def acting_as(self, role: str) -> Iterator[None]:
        previous, self.caller = self.caller, role
        try:
            yield
        finally:
            self.caller = previous

    def created_keys(self) -> set[str]:
        return {key["KeyId"] for key in self._kms.list_keys()["Keys"]} - {self.secrets_key}

    @property
    def secrets_key(self) -> str:
        return str(self._kms.describe_key(KeyId="alias/tollgate-keys")["KeyMetadata"]["KeyId"])

    def _check(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        if operation == "CreateKey":
            self._check_key_policy(params)
            return
        for key_id in self._keys_named(operation, params):
            if key_id in self.settled:
                continue
            if operation in ALIAS_MOVES and self.deny_alias_moves > 0:
                self.deny_alias_moves -= 1
                raise _denied(operation, f"{self.caller} is not yet authorized to move an alias to {key_id}")
            if not self._key_policy_grants(key_id, f"kms:{operation}"):
                raise _denied(operation, f"{self.caller} is not authorized to perform kms:{operation} on {key_id}")

    def _keys_named(self, operation: str, params: dict[str, Any]) -> list[str]:
        named = params.get(KEY_PARAMS.get(operation, "TargetKeyId"))
        try:
            if operation == "UpdateAlias":  # an alias that does not exist is NotFound, whoever asks
                self._kms.describe_key(KeyId=params["AliasName"])
            return [] if named is None else [str(self._kms.describe_key(KeyId=named)["KeyMetadata"]["KeyId"])]
        except self._kms.exceptions.NotFoundException:
            return []

    def _key_policy_grants(self, key_id: str, action: str) -> bool:
        policy = json.loads(self._kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
        return any(_grants(statement, self.caller, action) for statement in policy["Statement"])

    def _check_key_policy(self, params: dict[str, Any]) -> None:
        """What KMS checks of a key policy at CreateKey: existing principals, and the lockout safety check."""
        if "Policy" not in params:
            return
        statements = json.loads(params["Policy"])["Statement"]
        principals = {p for statement in statements for p in _as_list(statement["Principal"]["AWS"])}
        if principals - {ROOT, *self.roles}:
            raise ClientError(
                {"Error": {"Code": "MalformedPolicyDocumentException", "Message": "invalid principals"}}, "CreateKey"
            )
        lockout_safe = any(_grants(s, self.caller, "kms:PutKeyPolicy") for s in statements)
        if not (lockout_safe or params.get("BypassPolicyLockoutSafetyCheck")):
            message = "The new key policy will not allow you to update the key policy in the future."
            raise ClientError({"Error": {"Code": "MalformedPolicyDocumentException", "Message": message}}, "CreateKey")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(statement: dict[str, Any], principal: str, action: str) -> bool:
    """Does this key policy statement name ``principal`` itself (not the account) for ``action``?"""
    named = principal in _as_list(statement["Principal"]["AWS"])
    actions = _as_list(statement["Action"])
    return statement["Effect"] == "Allow" and named and (action in actions or "kms:*" in actions)


@pytest.fixture
def fake_kms(aws, monkeypatch) -> PropagatingKms:
    """A kms-mode stage without keys yet, on a KMS that propagates tags as AWS does."""
    monkeypatch.setenv("KEY_MODE", "kms")
    monkeypatch.setenv("KMS_KEY_ALIAS_PREFIX", PREFIX)
    monkeypatch.setenv("KMS_SIGNER_ROLE_ARN", API_ROLE)
    monkeypatch.setenv("KMS_ROTATION_ROLE_ARN", ROTATION_ROLE)
    monkeypatch.setattr(kms_mode, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    services.reset()
    fake = PropagatingKms((API_ROLE, ROTATION_ROLE))
    fake.install()
    return fake


def issue(http) -> str:
    from chalicelib.admin import handle

    client = handle({"operation": "clients.create", "params": {"grant_types": ["client_credentials"], "scope": "a"}})
    headers = {**FORM, "Authorization": basic(client["result"]["client_id"], client["result"]["client_secret"])}
    answer = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
    assert answer.status_code == 200, answer.body
    return str(json.loads(answer.body)["access_token"])


def orphans(fake: PropagatingKms) -> set[str]:
    """Keys rotation created that no alias names and that are not scheduled for deletion."""
    kms = boto3.client("kms", region_name="us-east-1")
    aliased = {alias.get("TargetKeyId") for alias in kms.list_aliases()["Aliases"]}
    pending = {k for k in fake.created_keys() if kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] != "Enabled"}
    return fake.created_keys() - aliased - pending


def target(alg: str, status: str) -> str:
    kms = boto3.client("kms", region_name="us-east-1")
    return str(kms.describe_key(KeyId=alias_name(PREFIX, alg, status))["KeyMetadata"]["KeyId"])


def test_the_first_keys_sign_and_publish_before_their_tags_reach_iam(fake_kms, http):
    with fake_kms.acting_as(ROTATION_ROLE):
        rotation.ensure_keys()  # the first rotation: CreateKey then CreateAlias at once
    assert len(fake_kms.created_keys()) == 4 and orphans(fake_kms) == set()
    token = issue(http)  # the API handler's first Sign, minutes before the tag would let it
    assert jwt.get_unverified_header(token)["kid"] == target("RS256", "current")
    assert len(json.loads(http.get("/.well-known/jwks.json").body)["keys"]) == 4  # GetPublicKey of next too


def test_a_new_keys_policy_names_the_rotation_and_api_roles_and_keeps_the_account_in_charge(fake_kms):
    with fake_kms.acting_as(ROTATION_ROLE):
        rotation.ensure_keys()
    kms = boto3.client("kms", region_name="us-east-1")
    policy = json.loads(kms.get_key_policy(KeyId=target("ES256", "next"), PolicyName="default")["Policy"])
    granted = {statement["Principal"]["AWS"]: set(_as_list(statement["Action"])) for statement in policy["Statement"]}
    assert granted[ROOT] == {"kms:*"}  # never unmanageable; IAM policies keep working
    assert granted[API_ROLE] == {"kms:Sign", "kms:GetPublicKey"}
    assert "kms:Sign" not in granted[ROTATION_ROLE] and "kms:PutKeyPolicy" not in granted[ROTATION_ROLE]
    assert {"kms:CreateAlias", "kms:UpdateAlias", "kms:ScheduleKeyDeletion"} <= granted[ROTATION_ROLE]
    tags = kms.list_resource_tags(KeyId=target("ES256", "next"))["Tags"]
    assert tags == [{"TagKey": KEYSET_TAG, "TagValue": PREFIX}]  # the IAM statements still find it by its tag


@pytest.fixture
def rotated_later(fake_kms, monkeypatch):
    """First keys made a while ago (their tags have settled), and rotation's clock past the pace."""
    with fake_kms.acting_as(ROTATION_ROLE):
        rotation.ensure_keys()
    fake_kms.settle()
    now = [int(time.time()) + rotation.pace(settings()) + 1]
    monkeypatch.setattr(rotation, "now", lambda: now[0])
    return now


def test_a_refused_alias_move_is_retried_and_leaves_no_orphan(fake_kms, rotated_later, http):
    fake_kms.deny_alias_moves = 1
    with fake_kms.acting_as(ROTATION_ROLE):
        rotation.rotate()
    assert orphans(fake_kms) == set() and len(fake_kms.created_keys()) == 6
    services.reset()
    assert issue(http)


def test_a_rotation_that_cannot_alias_its_new_key_deletes_it_and_a_later_one_completes(fake_kms, rotated_later, http):
    fake_kms.deny_alias_moves = 100
    with fake_kms.acting_as(ROTATION_ROLE), pytest.raises(ClientError, match="AccessDenied"):
        rotation.rotate()
    assert orphans(fake_kms) == set()  # the key it could not alias is scheduled for deletion
    services.reset()
    assert issue(http)  # still signing, with keys published long enough

    fake_kms.deny_alias_moves = 0
    with fake_kms.acting_as(ROTATION_ROLE):
        with pytest.raises(InvalidRequest, match="may sign from"):
            rotation.rotate()  # the missing next key is published now, to sign only a pace later
        assert target("RS256", "next") != target("RS256", "current")
        rotated_later[0] += rotation.retention(settings()) + 1
        rotation.rotate()
    assert orphans(fake_kms) == set()
    assert len({target("RS256", status) for status in ("next", "current", "previous")}) == 3


def test_a_deployed_stage_names_chalices_roles_when_none_is_configured(aws, monkeypatch):
    """``make deploy``: Chalice names each function's role after it; the account comes from STS."""
    for name in ("KMS_SIGNER_ROLE_ARN", "KMS_ROTATION_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("KEY_MODE", "kms")
    monkeypatch.setenv("KMS_KEY_ALIAS_PREFIX", PREFIX)
    services.reset()
    rotation.ensure_keys()
    kms = boto3.client("kms", region_name="us-east-1")
    policy = json.loads(kms.get_key_policy(KeyId=target("RS256", "current"), PolicyName="default")["Policy"])
    principals = {statement["Principal"]["AWS"] for statement in policy["Statement"]}
    assert principals == {
        ROOT,
        *(f"arn:aws:iam::{ACCOUNT}:role/tollgate-dev-{f}" for f in ("api_handler", "rotate_keys")),
    }


def test_the_packaged_kms_stage_tells_rotation_its_roles():
    """``make package``: CloudFormation names the roles, so the template passes their ARNs to rotate_keys."""
    prod = load_stage("prod")
    kms = Stage("prod", {**prod.config, "environment_variables": {**prod.environment, "KEY_MODE": "kms"}})
    variables = merge_template(kms)["Resources"]["RotateKeys"]["Properties"]["Environment"]["Variables"]
    assert variables["KMS_SIGNER_ROLE_ARN"] == {"Fn::GetAtt": ["ApiHandlerRole", "Arn"]}
    assert variables["KMS_ROTATION_ROLE_ARN"] == {"Fn::GetAtt": ["RotateKeysRole", "Arn"]}
