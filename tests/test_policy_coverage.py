"""Least privilege that still works: each function's deploy-time policy allows every AWS call its code makes.

The flows run on moto while every botocore call is recorded with the resource
it names; the policies are rendered exactly as ``make deploy`` renders them,
from the stack outputs (here moto's, from ``infra/resources.yaml``).  A new
storage call that the policies forget fails here instead of in production.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest

from chalicelib import admin, headless
from chalicelib.config import settings
from chalicelib.keys import rotation
from infra.local import apply_template
from infra.policies import deploy_documents
from infra.stages import load_stage
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


@dataclass(frozen=True, order=True)
class Call:
    function: str
    action: str
    resource: str


class CallLog:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.function = "api_handler"
        self.calls: list[Call] = []
        self._tables = {arn.rsplit("/", 1)[1]: arn for key, arn in outputs.items() if key.endswith("TableArn")}
        self._secrets = {
            outputs["SigningKeysSecretName"]: outputs["SigningKeysSecretArn"],
            outputs["PepperSecretName"]: outputs["PepperSecretArn"],
        }

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        previous, self.function = self.function, function
        try:
            yield
        finally:
            self.function = previous

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        for action, resource in self._resources(service, model.name, params):
            self.calls.append(Call(self.function, action, resource))

    def _table(self, name: str, index: str | None = None) -> str:
        return self._tables[name] + (f"/index/{index}" if index else "")

    def _resources(self, service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        if service == "secretsmanager":
            return [(f"secretsmanager:{operation}", self._secrets[params["SecretId"]])]
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
    from tests.oauth_flow import Browser
    from tests.test_device_flow import approve, device_auth, poll

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
    from tests.test_device_flow import device_auth, poll

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


@pytest.mark.usefixtures("refresh_anytime")  # refreshes right after the exchange
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
    denied = sorted({call for call in call_log.calls if not may(policies[call.function], call.action, call.resource)})
    assert denied == [], "\n".join(f"{c.function}: {c.action} on {c.resource}" for c in denied)


def test_the_interactions_function_may_open_the_sealed_login_hint_it_returns(call_log, http, monkeypatch):
    """``login get`` returns the login_hint, which the state table holds only sealed under the pepper."""
    from chalicelib import services

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
    assert [call for call in calls if not may(policies["interactions"], call.action, call.resource)] == []
