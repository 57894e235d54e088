"""Least privilege that still works: each function's deploy-time policy allows every AWS call its code makes.

The flows run on moto while every botocore call is recorded with the
resources it names and the request context IAM would evaluate (the key's
tags and aliases, the tags a ``CreateKey`` sends); the policies are rendered
exactly as ``make deploy`` renders them, from the stack outputs (here moto's,
from ``infra/resources.yaml``), and every condition is evaluated: a
statement whose condition does not hold allows nothing.  Calls one service
makes on the caller's behalf are recorded too: Secrets Manager decrypts and
encrypts a secret with the caller's ``kms:Decrypt`` / ``kms:GenerateDataKey``
(``kms:ViaService`` = Secrets Manager), and ``CreateKey`` with tags is also
authorised as ``kms:TagResource`` (tags only: the key does not exist yet).
A call the policies forget fails here instead of in production.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import boto3
import botocore.session
import pytest

from chalicelib import admin, headless, services
from chalicelib.config import settings
from chalicelib.keys import rotation
from infra.local import apply_template
from infra.policies import deploy_documents
from infra.stages import Stage, load_stage
from tests.conftest import FORM, basic
from tests.iam_policies import may
from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, exchange, pkce_pair, query_of
from tests.page_flow import SCOPE, sign_in_through_pages

BROWSER_CLIENT = {
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": SCOPE,
}

DEVICE_CLIENT = {
    "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
    "scope": "openid offline_access",
    "token_endpoint_auth_method": "none",
}

# How a transactional call is authorised: per item, by the action of the item.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# What Secrets Manager asks KMS for, as the caller, to read or write a secret encrypted with a customer key.
SECRETS_MANAGER_KMS = {
    "GetSecretValue": ("kms:Decrypt",),
    "PutSecretValue": ("kms:GenerateDataKey",),
    "CreateSecret": ("kms:GenerateDataKey",),
}
KMS_KEY_OPERATIONS = ("DescribeKey", "GetPublicKey", "Sign", "ScheduleKeyDeletion")
NO_PERMISSION = {"sts.GetCallerIdentity"}  # answers anyone with credentials
NEW_KEY = "00000000-0000-4000-8000-000000000000"  # tag-on-create names a key that does not exist yet

Context = tuple[tuple[str, tuple[str, ...]], ...]


def _context(values: Mapping[str, Any]) -> Context:
    """A request context, hashable: each key with its values."""
    return tuple(
        sorted((key, tuple(value) if isinstance(value, list) else (str(value),)) for key, value in values.items())
    )


@dataclass(frozen=True, order=True)
class Call:
    function: str
    action: str
    resource: str
    context: Context = ()


class CallLog:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.function = "api_handler"
        self.calls: list[Call] = []
        _, _, _, self.region, self.account, _ = outputs["ClientsTableArn"].split(":", 5)
        self._tables = {arn.rsplit("/", 1)[1]: arn for key, arn in outputs.items() if key.endswith("TableArn")}
        self._secrets = {
            outputs["SigningKeysSecretName"]: outputs["SigningKeysSecretArn"],
            outputs["PepperSecretName"]: outputs["PepperSecretArn"],
        }
        # Reads what a request names (a key's tags, an alias's target) without being recorded itself.
        self._kms = boto3.client("kms", region_name=self.region)
        self._secretsmanager = boto3.client("secretsmanager", region_name=self.region)

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        previous, self.function = self.function, function
        try:
            yield
        finally:
            self.function = previous

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        if f"{service}.{model.name}" in NO_PERMISSION:
            return
        for action, resource, *context in self._resources(service, model.name, params):
            self.calls.append(Call(self.function, action, resource, _context(context[0] if context else {})))

    def denied(self, policies: Mapping[str, list[dict[str, Any]]]) -> list[Call]:
        """The recorded calls the function's policy does not allow, with every condition evaluated."""
        return sorted(
            {
                call
                for call in self.calls
                if not may(policies[call.function], call.action, call.resource, {k: list(v) for k, v in call.context})
            }
        )

    def _table(self, name: str, index: str | None = None) -> str:
        return self._tables[name] + (f"/index/{index}" if index else "")

    def _resources(self, service: str, operation: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if service == "secretsmanager":
            return self._secret_calls(operation, params)
        if service == "kms":
            return self._kms_calls(operation, params)
        if service != "dynamodb":
            return [(f"{service}:{operation}", "*")]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", self._table(name)) for name in params["RequestItems"]]
        if operation == "TransactWriteItems":
            return [
                (f"dynamodb:{TRANSACT_ACTIONS[kind]}", self._table(body["TableName"]))
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if operation == "TransactGetItems":
            return [("dynamodb:GetItem", self._table(item["Get"]["TableName"])) for item in params["TransactItems"]]
        return [(f"dynamodb:{operation}", self._table(params["TableName"], params.get("IndexName")))]

    # --------------------------------------------------------------- secrets and the KMS calls made for them

    def _secret_calls(self, operation: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        secret = self._secrets[params["SecretId"]]
        calls: list[tuple[Any, ...]] = [(f"secretsmanager:{operation}", secret)]
        key = self._kms_key_arn(self._secretsmanager.describe_secret(SecretId=secret)["KmsKeyId"])
        on_behalf = {
            "kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com",
            "kms:CallerAccount": self.account,
            "kms:EncryptionContext:SecretARN": secret,
        }
        calls += [(action, key, on_behalf) for action in SECRETS_MANAGER_KMS.get(operation, ())]
        return calls

    # --------------------------------------------------------------- kms mode

    def _kms_key_arn(self, key_id: str) -> str:
        return str(self._kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])

    def _alias_arn(self, alias: str) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:{alias}"

    def _key(self, key_id: str) -> tuple[str, dict[str, Any]]:
        """The key's ARN and what IAM knows about it: its tags and aliases."""
        arn = self._kms_key_arn(key_id)
        tags = self._kms.list_resource_tags(KeyId=arn)["Tags"]
        aliases = [alias["AliasName"] for alias in self._kms.list_aliases(KeyId=arn)["Aliases"]]
        context: dict[str, Any] = {f"aws:ResourceTag/{tag['TagKey']}": tag["TagValue"] for tag in tags}
        if aliases:
            context["kms:ResourceAliases"] = aliases
        return arn, context

    def _kms_calls(self, operation: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        action = f"kms:{operation}"
        if operation == "CreateKey":
            tags = {tag["TagKey"]: tag["TagValue"] for tag in params.get("Tags", [])}
            tagging = {f"aws:RequestTag/{key}": value for key, value in tags.items()} | {"aws:TagKeys": list(tags)}
            creating = {**tagging, "kms:KeyUsage": params["KeyUsage"], "kms:KeySpec": params["KeySpec"]}
            if "BypassPolicyLockoutSafetyCheck" in params:  # sent with the key policy naming the roles
                creating["kms:BypassPolicyLockoutSafetyCheck"] = str(params["BypassPolicyLockoutSafetyCheck"]).lower()
            new_key = f"arn:aws:kms:{self.region}:{self.account}:key/{NEW_KEY}"
            return [(action, "*", creating)] + ([("kms:TagResource", new_key, tagging)] if tags else [])
        try:
            if operation in KMS_KEY_OPERATIONS:
                return [(action, *self._key(params["KeyId"]))]
            alias = params["AliasName"]
            keys = [params["TargetKeyId"]] if "TargetKeyId" in params else []
            if operation in ("UpdateAlias", "DeleteAlias"):  # KMS checks the key the alias leaves too
                keys.append(alias)
            return [(action, self._alias_arn(alias)), *((action, *self._key(key)) for key in keys)]
        except self._kms.exceptions.NotFoundException:
            return []  # KMS answers NotFound for what does not exist, whoever asks


@pytest.fixture
def call_log(aws, monkeypatch) -> CallLog:
    log = CallLog(apply_template().outputs)  # the template is applied already: this only reads its outputs
    create_client = botocore.session.Session.create_client

    def recording_create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("provide-client-params.*.*", log.record)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", recording_create_client)
    from chalicelib import services

    services.reset()  # new clients, recorded
    return log


def _token_flows(http, client: dict[str, Any]) -> None:
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    answer = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
    token = json.loads(answer.body)["access_token"]
    for path in ("/oauth2/introspect", "/oauth2/revoke", "/oauth2/introspect"):
        http.post(path, headers=headers, body=urlencode({"token": token}))
    http.get("/.well-known/jwks.json")


def _device_flow(http, tv: dict[str, Any]) -> None:
    """Device authorization, a pending poll, the verification page, login, consent, the issuing poll."""
    from tests.http.test_device_flow import approve, device_auth, poll
    from tests.oauth_flow import Browser

    started = json.loads(device_auth(http, tv).body)
    poll(http, tv, started["device_code"])
    approve(Browser(http), started["user_code"])
    assert poll(http, tv, started["device_code"]).status_code == 200


def _answer(call_log: CallLog, operation: str, **params: Any) -> dict[str, Any]:
    """A login app's call: the interactions function's handler, recorded as that function."""
    with call_log.acting_as("interactions"):
        answer = headless.handle({"operation": operation, "params": params})
    assert "result" in answer, answer
    return answer["result"]


def _login_and_consent_through_own_app(call_log: CallLog, browser: Browser, redirect_to: str) -> str:
    """Hydra-style login and consent answered by a team's app; where the browser goes next."""
    login = query_of(browser.get(redirect_to).headers["Location"])["login_challenge"]
    _answer(call_log, "login.get", login_challenge=login)
    accepted = _answer(call_log, "login.accept", login_challenge=login, subject="crm-42", remember=True)
    consent = query_of(browser.get(accepted["redirect_to"]).headers["Location"])["consent_challenge"]
    _answer(call_log, "consent.get", consent_challenge=consent)
    allowed = _answer(call_log, "consent.accept", consent_challenge=consent, grant_scope=["openid"], remember=True)
    return browser.get(allowed["redirect_to"]).headers["Location"]


def _headless_flows(call_log: CallLog, http, client: dict[str, Any], tv: dict[str, Any], monkeypatch) -> None:
    """Code flow, a rejected login and the device flow, every challenge answered by the interactions function."""
    from chalicelib import services
    from tests.http.test_device_flow import device_auth, poll

    browser = Browser(http)
    verifier, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    code = query_of(_login_and_consent_through_own_app(call_log, browser, url))["code"]
    assert exchange(http, client, code, verifier).status_code == 200
    refused = query_of(Browser(http).get(url).headers["Location"])["login_challenge"]
    _answer(call_log, "login.reject", login_challenge=refused)

    monkeypatch.setenv("DEVICE_URL", "https://devices.example.com/link")
    services.reset()
    started = json.loads(device_auth(http, tv).body)
    browser = Browser(http)  # another person, on another browser: no login session yet
    device_challenge = query_of(browser.get("http://127.0.0.1:8000/oauth2/device/verify").headers["Location"])[
        "device_challenge"
    ]
    _answer(call_log, "device.get", device_challenge=device_challenge)
    accepted = _answer(call_log, "device.accept", device_challenge=device_challenge, user_code=started["user_code"])
    _login_and_consent_through_own_app(call_log, browser, accepted["redirect_to"])
    assert poll(http, tv, started["device_code"]).status_code == 200


@pytest.mark.usefixtures("refresh_anytime", "cheap_passwords")  # refreshes right after the exchange
def test_every_call_of_every_function_is_allowed_by_its_policy(call_log, http, monkeypatch):
    with call_log.acting_as("admin"):
        created = [
            admin.handle({"operation": "clients.create", "params": {"grant_types": ["client_credentials"], **extra}})
            for extra in ({"scope": "a"}, {"access_token_strategy": "opaque"})
        ]
        clients = [answer["result"] for answer in created]
        admin.handle({"operation": "clients.list"})
        admin.handle({"operation": "clients.get", "params": {"client_id": clients[0]["client_id"]}})
        rotated = admin.handle({"operation": "clients.rotate_secret", "params": {"client_id": clients[0]["client_id"]}})
        ada = admin.handle({"operation": "users.create", "params": {"username": "ada", "password": "pw-0123456789abc"}})
        browser_client = admin.handle({"operation": "clients.create", "params": BROWSER_CLIENT})["result"]
        tv = admin.handle({"operation": "clients.create", "params": DEVICE_CLIENT})["result"]
    for client in (rotated["result"], clients[1]):
        _token_flows(http, client)
    sign_in_through_pages(http, browser_client, "ada", "pw-0123456789abc")  # login, consent, code, refresh
    _device_flow(http, tv)
    _headless_flows(call_log, http, browser_client, tv, monkeypatch)
    ready = int(time.time()) + rotation.pace(settings()) + 1  # the next key has been published long enough
    monkeypatch.setattr(rotation, "now", lambda: ready)
    with call_log.acting_as("rotate_keys"):
        rotated_keys = rotation.rotate()
        rotation.list_keys()
        rotation.revoke(rotated_keys[0]["kid"])
    with call_log.acting_as("admin"):
        admin.handle({"operation": "clients.delete", "params": {"client_id": clients[1]["client_id"]}})
        # Control over a person: the one a team's app signed in has sessions, consents and grants.
        for operation in ("consents.list", "consents.revoke", "users.sign_out"):
            assert "result" in admin.handle({"operation": operation, "params": {"user_id": "crm-42"}})
        for operation in ("users.disable", "users.enable"):
            assert "result" in admin.handle({"operation": operation, "params": {"user_id": ada["result"]["user_id"]}})

    stage = load_stage("dev")
    documents = deploy_documents(stage, call_log.outputs)
    policies = {name: document["Statement"] for name, document in documents.items()}
    seen = {(call.function, call.action.split(":")[0]) for call in call_log.calls}
    assert {("admin", "dynamodb"), ("api_handler", "dynamodb"), ("api_handler", "secretsmanager")} <= seen
    assert ("rotate_keys", "secretsmanager") in seen and ("interactions", "dynamodb") in seen
    users_table = call_log.outputs["UsersTableArn"]
    assert any(c.function == "api_handler" and c.resource.startswith(users_table) for c in call_log.calls)  # sign-in
    denied = call_log.denied(policies)
    assert denied == [], "\n".join(f"{c.function}: {c.action} on {c.resource} ({c.context})" for c in denied)
    decrypts = {call.function for call in call_log.calls if call.action == "kms:Decrypt"}
    assert decrypts == {"api_handler", "admin", "rotate_keys"}  # the secrets' key, as Secrets Manager uses it


def _kms_stage() -> Stage:
    dev = load_stage("dev")
    return Stage(
        "dev", {**dev.config, "environment_variables": {**dev.environment, "KEY_MODE": "kms"}}, dev.chalice_dir
    )


def test_every_call_of_kms_mode_is_allowed_with_its_conditions_evaluated(call_log, http, monkeypatch):
    stage = _kms_stage()
    monkeypatch.setenv("KEY_MODE", "kms")
    monkeypatch.setenv("KMS_KEY_ALIAS_PREFIX", stage.kms_alias_prefix)
    for variable, function in (("KMS_SIGNER_ROLE_ARN", "api_handler"), ("KMS_ROTATION_ROLE_ARN", "rotate_keys")):
        monkeypatch.setenv(variable, f"arn:aws:iam::{call_log.account}:role/{stage.function_name(function)}")
    services.reset()
    with call_log.acting_as("rotate_keys"):
        rotation.ensure_keys()  # a stage's first keys: CreateKey with its tag, CreateAlias
    with call_log.acting_as("admin"):
        params = {"grant_types": ["client_credentials"], "scope": "a"}
        machine = admin.handle({"operation": "clients.create", "params": params})["result"]
    services.reset()  # the API handler is another container: it reads the pepper itself
    _token_flows(http, machine)  # Sign; GetPublicKey for the JWKS and introspection
    ready = int(time.time()) + rotation.pace(settings()) + 1
    monkeypatch.setattr(rotation, "now", lambda: ready)
    with call_log.acting_as("rotate_keys"):
        rotated = rotation.rotate()  # UpdateAlias across keys
        rotation.list_keys()
        for status in ("previous", "current"):  # DeleteAlias, ScheduleKeyDeletion
            rotation.revoke(next(key["kid"] for key in rotated if key["status"] == status))

    documents = deploy_documents(stage, call_log.outputs)
    policies = {name: document["Statement"] for name, document in documents.items()}
    seen = {(call.function, call.action) for call in call_log.calls}
    rotation_calls = {"CreateKey", "TagResource", "CreateAlias", "UpdateAlias", "DeleteAlias", "ScheduleKeyDeletion"}
    assert {("rotate_keys", f"kms:{name}") for name in rotation_calls} <= seen
    assert {("api_handler", "kms:Sign"), ("api_handler", "kms:GetPublicKey"), ("api_handler", "kms:Decrypt")} <= seen
    bypassing = [call for call in call_log.calls if ("kms:BypassPolicyLockoutSafetyCheck", ("true",)) in call.context]
    assert bypassing and all(call.action == "kms:CreateKey" for call in bypassing)  # keys came with a key policy
    denied = call_log.denied(policies)
    assert denied == [], "\n".join(f"{c.function}: {c.action} on {c.resource} ({c.context})" for c in denied)


def test_a_statement_whose_condition_does_not_hold_allows_nothing(aws):
    """The coverage above counts only statements whose conditions hold: the same evaluator refuses these."""
    outputs = apply_template().outputs
    policies = {name: document["Statement"] for name, document in deploy_documents(_kms_stage(), outputs).items()}
    api, key = policies["api_handler"], outputs["KeysKmsKeyArn"]
    through_secrets_manager = {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    assert may(api, "kms:Decrypt", key, through_secrets_manager)
    assert not may(api, "kms:Decrypt", key, {})  # the secrets' key, called directly
    assert not may(api, "kms:Decrypt", key, {"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    signing_key = key.replace(key.rsplit("/", 1)[1], "1234abcd-12ab-34cd-56ef-1234567890ab")
    assert may(api, "kms:Sign", signing_key, {"aws:ResourceTag/tollgate-keyset": "alias/tollgate-dev-signing"})
    assert not may(api, "kms:Sign", signing_key, {"aws:ResourceTag/tollgate-keyset": "alias/tollgate-prod-signing"})
    assert not may(api, "kms:Sign", signing_key, {})  # a key whose tag has not reached IAM yet


def test_the_interactions_function_may_open_the_sealed_login_hint_it_returns(call_log, http, monkeypatch):
    """``login get`` returns the login_hint, which the state table holds only sealed under the pepper."""
    monkeypatch.setenv("LOGIN_URL", "https://login.example.com/signin")
    services.reset()
    with call_log.acting_as("admin"):
        client = admin.handle({"operation": "clients.create", "params": BROWSER_CLIENT})["result"]
    _, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256", login_hint="ada"
    )
    login = query_of(Browser(http).get(url).headers["Location"])["login_challenge"]
    services.reset()  # a cold interactions container: it reads the pepper itself
    assert _answer(call_log, "login.get", login_challenge=login)["oidc_context"]["login_hint"] == "ada"
    policies = {name: doc["Statement"] for name, doc in deploy_documents(load_stage("dev"), call_log.outputs).items()}
    calls = [call for call in call_log.calls if call.function == "interactions"]
    assert any(call.action == "secretsmanager:GetSecretValue" for call in calls)
    assert [call for call in call_log.denied(policies) if call.function == "interactions"] == []
