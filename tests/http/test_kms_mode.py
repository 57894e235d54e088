"""``KEY_MODE=kms`` on moto: asymmetric KMS keys sign, JWKS from GetPublicKey, rotation by alias moves."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import admin, services
from chalicelib.config import settings
from chalicelib.keys import kms_mode, rotation
from chalicelib.keys.kms_mode import KEYSET_TAG, KmsKeyProvider, alias_name, der_to_jose
from infra.policies import data_statements
from infra.stages import Stage, load_stage
from tests.conftest import FORM, basic
from tests.iam_policies import grants, may

PREFIX = "alias/tollgate-test-signing"
AUDIENCE = "https://api.example.com"


@pytest.fixture
def kms_keys(aws, monkeypatch):
    """The app in kms mode with its first keys, as the first deploy leaves it."""
    monkeypatch.setenv("KEY_MODE", "kms")
    monkeypatch.setenv("KMS_KEY_ALIAS_PREFIX", PREFIX)
    services.reset()
    rotation.ensure_keys()
    aws.reset()
    return aws


@pytest.fixture
def clock(monkeypatch):
    """Rotation's wall clock, moved by hand; it starts a whole pace after the first keys were created."""
    now = [int(time.time()) + rotation.pace(settings()) + 1]
    monkeypatch.setattr(rotation, "now", lambda: now[0])
    return now


@pytest.fixture
def machine(register):
    return register(grant_types=["client_credentials"], scope="a", audience=[AUDIENCE])


def issue(http, client: dict[str, Any]) -> str:
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    answer = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
    assert answer.status_code == 200, answer.body
    return json.loads(answer.body)["access_token"]


def jwks(http) -> dict[str, dict[str, Any]]:
    return {key["kid"]: key for key in json.loads(http.get("/.well-known/jwks.json").body)["keys"]}


def verify(http, token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWK(jwks(http)[header["kid"]]).key
    return jwt.decode(token, key, algorithms=[header["alg"]], audience=AUDIENCE)


def active(http, client: dict[str, Any], token: str) -> bool:
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    return json.loads(http.post("/oauth2/introspect", headers=headers, body=urlencode({"token": token})).body)["active"]


@pytest.mark.parametrize(("alg", "signature_bytes"), [("RS256", 256), ("ES256", 64)])
def test_kms_signed_tokens_verify_against_the_published_jwks(
    kms_keys, http, machine, monkeypatch, alg, signature_bytes
):
    monkeypatch.setenv("ACCESS_TOKEN_SIGNING_ALG", alg)
    services.reset()
    token = issue(http, machine)
    assert jwt.get_unverified_header(token)["alg"] == alg
    assert verify(http, token)["client_id"] == machine["client_id"]
    signature = jwt.utils.base64url_decode(token.rsplit(".", 1)[1])
    assert len(signature) == signature_bytes  # ES256: JOSE r||s, not KMS's DER
    assert active(http, machine, token)
    published = jwks(http)[jwt.get_unverified_header(token)["kid"]]
    assert published["use"] == "sig" and "key_ops" not in published  # RFC 7517 §4.3: not both


def test_kid_names_the_kms_key_behind_the_current_alias(kms_keys, http, machine):
    kms = boto3.client("kms", region_name="us-east-1")
    current = kms.describe_key(KeyId=alias_name(PREFIX, "RS256", "current"))["KeyMetadata"]
    assert jwt.get_unverified_header(issue(http, machine))["kid"] == current["KeyId"]
    assert kms.list_resource_tags(KeyId=current["KeyId"])["Tags"] == [{"TagKey": KEYSET_TAG, "TagValue": PREFIX}]
    assert (current["KeySpec"], current["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")


def test_public_keys_are_cached_and_each_token_costs_one_sign_call(kms_keys, http, machine):
    issue(http, machine)  # warm: public keys, pepper, client
    kms_keys.reset()
    issue(http, machine)
    jwks(http)
    assert kms_keys.by_operation() == {"kms.Sign": 1}


@pytest.fixture
def throttled_kms():
    """KMS answering every Sign as it does once the account's quota is spent; ``False`` lifts it."""
    from botocore.exceptions import ClientError

    from chalicelib import aws as aws_clients

    kms = aws_clients.client("kms")
    original = kms.sign

    def throttled(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Sign")

    def throttle(on: bool = True) -> None:
        kms.sign = throttled if on else original

    yield throttle
    kms.sign = original


def test_a_throttled_kms_answers_503_with_retry_after_and_counts_kms_throttled(
    kms_keys, http, machine, throttled_kms, capsys
):
    issue(http, machine)  # warm: public keys, pepper, client
    throttled_kms()
    capsys.readouterr()
    headers = {**FORM, "Authorization": basic(machine["client_id"], machine["client_secret"])}
    answer = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert json.loads(answer.body)["error"] == "temporarily_unavailable"
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [(m["Algorithm"], m["KmsThrottled"]) for m in metrics if "KmsThrottled" in m] == [("RS256", [1.0])]
    throttled_kms(False)
    assert issue(http, machine)  # KMS answers again: so does Tollgate


@pytest.mark.usefixtures("refresh_anytime")
def test_a_refresh_throttled_by_kms_leaves_the_refresh_token_usable(kms_keys, http, register, throttled_kms):
    from tests.oauth_flow import REDIRECT_URI, signed_in_tokens, token_call

    scope = "openid offline_access"
    web_app = register(grant_types=["authorization_code", "refresh_token"], redirect_uris=[REDIRECT_URI], scope=scope)
    refresh = {"grant_type": "refresh_token", "refresh_token": signed_in_tokens(http, web_app, scope)["refresh_token"]}
    throttled_kms()
    assert token_call(http, web_app, refresh).status_code == 503
    throttled_kms(False)
    answer = token_call(http, web_app, refresh)
    assert answer.status_code == 200, answer.body


def test_kms_mode_holds_no_private_material_and_never_reads_the_key_secret(kms_keys, http, machine):
    issue(http, machine)
    text = json.dumps(jwks(http))
    assert not any(f'"{member}"' in text for member in ("d", "p", "q", "dp", "dq", "qi"))
    assert len(json.loads(text)) == 4  # current and next of RS256 and ES256
    assert "secretsmanager.GetSecretValue" in kms_keys.calls  # the pepper, for client authentication
    secret_reads = [call for call in kms_keys.calls if call == "secretsmanager.GetSecretValue"]
    assert len(secret_reads) == 1


def test_rotation_moves_aliases_and_keeps_the_previous_key_published(kms_keys, http, machine, clock):
    first = issue(http, machine)
    upcoming = admin.handle({"operation": "keys.list"})["result"]
    next_kid = next(k["kid"] for k in upcoming if k["alg"] == "RS256" and k["status"] == "next")

    admin.handle({"operation": "keys.rotate"})
    services.reset()  # KEY_CACHE_SECONDS later
    second = issue(http, machine)
    assert jwt.get_unverified_header(second)["kid"] == next_kid
    assert verify(http, first) and verify(http, second)
    assert active(http, machine, first) and active(http, machine, second)
    assert len(jwks(http)) == 6

    clock[0] += rotation.retention(settings())  # the previous key has outlived its tokens
    admin.handle({"operation": "keys.rotate"})
    services.reset()
    assert verify(http, second) and verify(http, issue(http, machine))
    retired = jwt.get_unverified_header(first)["kid"]
    assert retired not in jwks(http)
    kms = boto3.client("kms", region_name="us-east-1")
    assert kms.describe_key(KeyId=retired)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_keys_list_shows_arns_and_statuses(kms_keys):
    listed = admin.handle({"operation": "keys.list"})["result"]
    assert sorted((k["alg"], k["status"]) for k in listed) == [
        ("ES256", "current"), ("ES256", "next"), ("RS256", "current"), ("RS256", "next"),
    ]  # fmt: skip
    assert all(k["key_arn"].startswith("arn:aws:kms:us-east-1:") for k in listed)


def test_der_signature_becomes_jose_r_and_s():
    private_key = ec.generate_private_key(ec.SECP256R1())
    der = private_key.sign(b"input", ec.ECDSA(hashes.SHA256()))
    jose = der_to_jose(der)
    assert len(jose) == 64
    algorithm = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256)
    assert algorithm.verify(b"input", private_key.public_key(), jose)


def test_signing_input_beyond_the_raw_limit_is_refused(kms_keys):
    key = KmsKeyProvider(PREFIX, cache_seconds=300).signing_key("RS256")
    with pytest.raises(ValueError, match="4096"):
        key.sign(b"x" * (kms_mode.RAW_MESSAGE_LIMIT + 1))


def kms_client() -> Any:
    return boto3.client("kms", region_name="us-east-1")


def target(alg: str, status: str) -> str:
    return str(kms_client().describe_key(KeyId=alias_name(PREFIX, alg, status))["KeyMetadata"]["KeyId"])


def test_a_missing_next_alias_never_lets_an_unpublished_key_sign(kms_keys, http, machine, clock):
    signer = target("RS256", "current")
    kms_client().delete_alias(AliasName=alias_name(PREFIX, "RS256", "next"))
    refused = admin.handle({"operation": "keys.rotate"})
    assert refused["error"] == "invalid_request" and "may sign from" in refused["error_description"]
    services.reset()
    published = target("RS256", "next")  # created and published, not signing
    assert published in jwks(http) and target("RS256", "current") == signer
    assert jwt.get_unverified_header(issue(http, machine))["kid"] == signer
    clock[0] += rotation.pace(settings())
    assert "result" in admin.handle({"operation": "keys.rotate"})
    services.reset()
    assert jwt.get_unverified_header(issue(http, machine))["kid"] == published


def test_a_second_rotation_waits_until_the_previous_key_outlived_its_tokens(kms_keys, http, machine, clock):
    first = issue(http, machine)
    admin.handle({"operation": "keys.rotate"})
    clock[0] += rotation.pace(settings())
    assert admin.handle({"operation": "keys.rotate"})["error"] == "invalid_request"
    services.reset()
    assert verify(http, first) and active(http, machine, first)


def test_revoking_the_current_kms_key_disables_it_and_next_signs_at_once(kms_keys, http, machine):
    token = issue(http, machine)
    revoked, upcoming = target("RS256", "current"), target("RS256", "next")
    listed = admin.handle({"operation": "keys.revoke", "params": {"kid": revoked}})["result"]
    assert revoked not in {k["kid"] for k in listed} and revoked not in jwks(http)
    assert not active(http, machine, token)  # this container forgot the key at once
    assert kms_client().describe_key(KeyId=revoked)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert target("RS256", "current") == upcoming and target("RS256", "next") not in (revoked, upcoming)
    assert jwt.get_unverified_header(issue(http, machine))["kid"] == upcoming
    assert admin.handle({"operation": "keys.revoke", "params": {"kid": revoked}})["error"] == "not_found"


def test_revoking_a_previous_kms_key_removes_its_alias(kms_keys, http, machine, clock):
    admin.handle({"operation": "keys.rotate"})
    retired = target("ES256", "previous")
    admin.handle({"operation": "keys.revoke", "params": {"kid": retired}})
    assert retired not in jwks(http) and len(jwks(http)) == 5
    assert kms_client().describe_key(KeyId=retired)["KeyMetadata"]["KeyState"] == "PendingDeletion"


# --------------------------------------------------------------------------- kms mode's IAM policies


@pytest.fixture
def kms_stage() -> Stage:
    prod = load_stage("prod")
    environment = {**prod.environment, "KEY_MODE": "kms"}
    return Stage("prod", {**prod.config, "environment_variables": environment}, prod.chalice_dir)


SIGNING_KEY = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_kms_mode_api_handler_signs_only_with_keys_tagged_for_its_stage(kms_stage):
    api = data_statements(kms_stage, "api_handler")
    assert may(api, "kms:Sign", SIGNING_KEY) and may(api, "kms:GetPublicKey", SIGNING_KEY)
    (signing,) = [s for s in api if "kms:Sign" in s["Action"]]
    assert signing["Condition"] == {"StringEquals": {f"aws:ResourceTag/{KEYSET_TAG}": "alias/tollgate-prod-signing"}}
    assert not may(api, "secretsmanager:GetSecretValue", "${SigningKeysSecret}")
    assert not may(api, "kms:CreateKey", "*") and not may(api, "kms:UpdateAlias", SIGNING_KEY)


def test_kms_mode_only_rotation_creates_keys_and_moves_aliases(kms_stage):
    rotation_statements = data_statements(kms_stage, "rotate_keys")
    (create,) = [s for s in rotation_statements if "kms:CreateKey" in s["Action"]]
    assert create["Resource"] == ["*"]  # CreateKey has no resource; its conditions bound it
    assert create["Condition"]["StringEquals"][f"aws:RequestTag/{KEYSET_TAG}"] == "alias/tollgate-prod-signing"
    assert create["Condition"]["StringEquals"]["kms:KeyUsage"] == "SIGN_VERIFY"
    alias = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/tollgate-prod-signing-rs256-next"
    assert may(rotation_statements, "kms:UpdateAlias", alias)
    assert not may(rotation_statements, "kms:UpdateAlias", alias.replace("tollgate-prod", "someone-else"))
    for function in ("api_handler", "admin"):
        assert not may(data_statements(kms_stage, function), "kms:CreateKey", "*")
    for grant in grants(rotation_statements):
        assert grant.resource != "*" or grant.action == "kms:CreateKey"  # never a standing TagResource on *
        assert grant.resource.endswith(":key/*") <= grant.conditioned


def tagging(prefix: str = "alias/tollgate-prod-signing", **context: Any) -> dict[str, Any]:
    """What the tag-on-create check of ``CreateKey`` is sure to carry: the tags, nothing about the key."""
    return {f"aws:RequestTag/{KEYSET_TAG}": prefix, "aws:TagKeys": [KEYSET_TAG], **context}


def creating(prefix: str = "alias/tollgate-prod-signing", **context: Any) -> dict[str, Any]:
    """The request context of ``CreateKey`` with the keyset tag, as rotation sends it."""
    return tagging(prefix, **{"kms:KeyUsage": "SIGN_VERIFY", "kms:KeySpec": "RSA_2048", **context})


def test_kms_rotation_may_tag_only_the_key_it_is_creating(kms_stage):
    rotation_statements = data_statements(kms_stage, "rotate_keys")
    assert may(rotation_statements, "kms:CreateKey", "*", creating())
    # Its own statement, on the request's tags alone: kms:KeySpec/KeyUsage belong to CreateKey, and a key being
    # created has no resource tags or aliases to read yet.
    (tag,) = [s for s in rotation_statements if s["Effect"] == "Allow" and "kms:TagResource" in s["Action"]]
    assert tag["Action"] == ["kms:TagResource"]
    assert {key for keys in tag["Condition"].values() for key in keys} == {
        f"aws:RequestTag/{KEYSET_TAG}",
        "aws:TagKeys",
    }
    assert may(rotation_statements, "kms:TagResource", SIGNING_KEY, tagging())  # tag-on-create: a new key
    # An existing key of another stage, or a key in use under any alias, is never tagged into this stage...
    other_stage = tagging(**{f"aws:ResourceTag/{KEYSET_TAG}": "alias/tollgate-dev-signing"})
    assert not may(rotation_statements, "kms:TagResource", SIGNING_KEY, other_stage)
    in_use = tagging(**{"kms:ResourceAliases": ["alias/payments-signing"]})
    assert not may(rotation_statements, "kms:TagResource", SIGNING_KEY, in_use)
    own = tagging(**{f"aws:ResourceTag/{KEYSET_TAG}": "alias/tollgate-prod-signing"})
    assert may(rotation_statements, "kms:TagResource", SIGNING_KEY, own)
    # ...nor given another tag or another stage's value, nor any key outside the stage's account and region.
    assert not may(rotation_statements, "kms:TagResource", SIGNING_KEY, tagging(**{"aws:TagKeys": [KEYSET_TAG, "x"]}))
    assert not may(rotation_statements, "kms:TagResource", SIGNING_KEY, tagging("alias/tollgate-dev-signing"))
    assert not may(rotation_statements, "kms:TagResource", "arn:aws:kms:us-west-2:999999999999:key/k", tagging())
    assert not may(rotation_statements, "kms:CreateKey", "*", creating(**{"kms:KeyUsage": "ENCRYPT_DECRYPT"}))
    assert not may(rotation_statements, "kms:UntagResource", SIGNING_KEY)


def test_every_key_rotation_creates_is_allowed_with_the_tags_it_sends(aws, monkeypatch, kms_stage):
    """The real ``CreateKey`` requests of a first run and a rotation, checked against the policy's conditions."""
    from chalicelib import aws as aws_clients

    monkeypatch.setenv("KEY_MODE", "kms")
    monkeypatch.setenv("KMS_KEY_ALIAS_PREFIX", kms_stage.kms_alias_prefix)
    services.reset()
    sent: list[dict[str, Any]] = []
    aws_clients.client("kms").meta.events.register(
        "provide-client-params.kms.CreateKey", lambda params, **_: sent.append(params)
    )
    rotation.ensure_keys()
    ready = int(time.time()) + rotation.pace(settings()) + 1  # the next key has been published long enough
    monkeypatch.setattr(rotation, "now", lambda: ready)
    rotation.rotate()
    assert len(sent) == 6  # two per algorithm on the first run, one more each on rotation
    rotation_statements = data_statements(kms_stage, "rotate_keys")
    for params in sent:
        tags = {tag["TagKey"]: tag["TagValue"] for tag in params.get("Tags", [])}
        context = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
        context.update(
            {"aws:TagKeys": list(tags), "kms:KeyUsage": params["KeyUsage"], "kms:KeySpec": params["KeySpec"]}
        )
        assert may(rotation_statements, "kms:CreateKey", "*", context), params
        tags_only = {key: value for key, value in context.items() if key.startswith("aws:")}
        assert may(rotation_statements, "kms:TagResource", SIGNING_KEY, tags_only), params


def test_kms_mode_only_rotation_may_revoke_its_own_keys(kms_stage):
    alias = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/tollgate-prod-signing-rs256-previous"
    rotation_statements = data_statements(kms_stage, "rotate_keys")
    assert may(rotation_statements, "kms:DeleteAlias", alias) and may(
        rotation_statements, "kms:DeleteAlias", SIGNING_KEY
    )
    assert not may(rotation_statements, "kms:DeleteAlias", alias.replace("tollgate-prod", "someone-else"))
    for function in ("api_handler", "admin"):
        assert not may(data_statements(kms_stage, function), "kms:DeleteAlias", alias)
