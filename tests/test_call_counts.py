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
