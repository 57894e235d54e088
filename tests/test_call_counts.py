"""AWS calls per request on a warm container (counted through botocore's event hooks)."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlencode

import pytest

from tests.conftest import FORM, basic


@pytest.fixture
def machine(register):
    return register(grant_types=["client_credentials"], scope="a", audience=["https://api.example.com"])


def token_request(http, client):
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    return http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))


def test_client_credentials_costs_zero_calls_when_client_is_cached_and_one_otherwise(http, machine, aws, monkeypatch):
    import chalicelib.storage.clients as clients_module

    token_request(http, machine)  # warm: pepper, keys, client
    aws.reset()
    assert token_request(http, machine).status_code == 200
    assert aws.count == 0, aws.calls

    # CLIENT_CACHE_SECONDS (60) later, the client record expires; keys (300 s) and pepper are still warm.
    later = clients_module.monotonic() + 61
    monkeypatch.setattr(clients_module, "monotonic", lambda: later)
    aws.reset()
    assert token_request(http, machine).status_code == 200
    assert aws.by_operation() == {"dynamodb.GetItem": 1}, aws.calls


def test_jwks_and_discovery_cost_zero_calls_when_warm(http, aws):
    http.get("/.well-known/jwks.json")
    aws.reset()
    for path in (
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ):
        assert http.get(path).status_code == 200
    assert aws.count == 0


def test_jwt_introspection_costs_one_call(http, machine, aws):
    token = json.loads(token_request(http, machine).body)["access_token"]
    aws.reset()
    headers = {**FORM, "Authorization": basic(machine["client_id"], machine["client_secret"])}
    http.post("/oauth2/introspect", headers=headers, body=urlencode({"token": token}))
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1}  # the jti (and grant) revocation check


def test_importing_app_creates_no_aws_client_and_loads_no_key():
    code = (
        "import sys, app; "
        "bad = [m for m in ('boto3', 'botocore', 'pynamodb', 'chalicelib.keys.secrets_mode') if m in sys.modules]; "
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.fixture
def web_app(register):
    from tests.oauth_flow import REDIRECT_URI

    return register(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope="openid offline_access profile",
    )


def _signed_in_tokens(http, client, aws):
    from tests.oauth_flow import Browser, authorize_url, exchange, pkce_pair, sign_in

    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"],
        scope="openid offline_access profile",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    code = sign_in(Browser(http), url)["code"]
    aws.reset()
    response = exchange(http, client, code, verifier)
    assert response.status_code == 200
    return json.loads(response.body)


def test_code_exchange_costs_at_most_two_calls(http, web_app, aws):
    _signed_in_tokens(http, web_app, aws)  # warms client, pepper and keys
    _signed_in_tokens(http, web_app, aws)
    assert aws.count <= 2, aws.calls
    # Consume the code + store the refresh token in one transaction that checks the grant is not revoked.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}


def test_refresh_costs_at_most_two_calls(http, web_app, aws, clock):
    from tests.oauth_flow import token_call

    body = _signed_in_tokens(http, web_app, aws)
    clock[0] += 10  # REFRESH_MIN_INTERVAL
    aws.reset()
    response = token_call(http, web_app, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert response.status_code == 200
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}


def test_userinfo_with_a_jwt_access_token_costs_at_most_two_calls(http, web_app, aws):
    body = _signed_in_tokens(http, web_app, aws)
    aws.reset()
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 1}


@pytest.fixture
def opaque_web_app(register):
    from tests.oauth_flow import REDIRECT_URI

    return register(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope="openid offline_access profile",
        access_token_strategy="opaque",
    )


def test_opaque_code_exchange_and_refresh_cost_two_calls_each(http, opaque_web_app, aws, clock):
    from tests.oauth_flow import token_call

    _signed_in_tokens(http, opaque_web_app, aws)  # warms client, pepper and keys
    body = _signed_in_tokens(http, opaque_web_app, aws)
    # Consume the code + store both tokens in one transaction that checks the grant is not revoked.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}, aws.calls
    clock[0] += 10  # REFRESH_MIN_INTERVAL
    aws.reset()
    response = token_call(http, opaque_web_app, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert response.status_code == 200
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}, aws.calls


def test_userinfo_with_an_opaque_access_token_costs_two_calls(http, opaque_web_app, aws):
    body = _signed_in_tokens(http, opaque_web_app, aws)
    aws.reset()
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    # The token and its grant's revocation marker in one BatchGetItem + read the user.
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 1}, aws.calls


def test_introspecting_a_refresh_token_or_an_opaque_access_token_costs_one_call(http, opaque_web_app, aws):
    from tests.oauth_flow import introspect

    body = _signed_in_tokens(http, opaque_web_app, aws)
    for token in (body["refresh_token"], body["access_token"]):
        aws.reset()
        assert introspect(http, opaque_web_app, token)["active"] is True
        assert aws.by_operation() == {"dynamodb.BatchGetItem": 1}, aws.calls
