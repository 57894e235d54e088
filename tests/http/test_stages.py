"""Stages in .chalice/config.json: local, dev and prod, each with a coherent environment; the issuer per stage."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from moto import mock_aws

from chalicelib.config import ENVIRONMENT
from infra.local import apply_template
from infra.stages import FUNCTIONS, load_config, load_stage, stage_names
from tests.conftest import FORM, basic

DEPLOYED = ("dev", "prod")
KNOWN_SETTINGS = {name for name, _, _ in ENVIRONMENT}
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
EXECUTE_API_ISSUER = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/api"


def test_stages_are_local_dev_and_prod_with_hand_written_policies():
    config = load_config()
    assert stage_names() == ["local", "dev", "prod"]
    assert config["autogen_policy"] is False
    for stage in DEPLOYED:
        functions = config["stages"][stage]["lambda_functions"]
        assert {name: functions[name]["iam_policy_file"] for name in FUNCTIONS} == {
            name: f"policies/{stage}-{name}.json" for name in FUNCTIONS
        }


def test_local_stage_leaves_issuer_endpoint_and_table_names_to_the_local_stack():
    # chalice local lets config.json environment variables win over the process environment.
    local = load_stage("local").environment
    assert local == {"STAGE": "local"}
    assert "environment_variables" not in load_config()


@pytest.mark.parametrize("stage", DEPLOYED)
def test_deployed_stage_sets_only_settings_that_exist(stage):
    environment = load_stage(stage).environment
    assert environment["STAGE"] == stage
    assert set(environment) <= KNOWN_SETTINGS | POWERTOOLS
    required = {"CLIENTS_TABLE", "USERS_TABLE", "STATE_TABLE", "KEYS_SECRET_ID", "PEPPER_SECRET_ID", "KEY_MODE"}
    assert required | {"ACCESS_TOKEN_TTL", "CLIENT_CACHE_SECONDS", "KEY_CACHE_SECONDS"} <= set(environment)
    assert environment["KEY_MODE"] in ("secrets", "kms")
    assert "AWS_ENDPOINT_URL" not in environment


@pytest.mark.parametrize("stage", DEPLOYED)
def test_deployed_stage_names_the_resources_its_infrastructure_stack_creates(stage, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    loaded = load_stage(stage)
    with mock_aws():
        created = apply_template(parameters={"NamePrefix": loaded.name_prefix}).settings_env()
    assert {name: loaded.environment[name] for name in created} == created
    assert loaded.kms_alias_prefix.startswith(f"alias/{loaded.name_prefix}-")


@pytest.mark.parametrize("stage", DEPLOYED)
def test_deployed_stage_is_throttled_with_a_burst_above_its_rate(stage):
    throttling = load_stage(stage).throttling
    assert 0 < throttling.rate_limit <= throttling.burst_limit


def test_prod_issuer_is_its_custom_domain_with_tls_1_2():
    prod = load_stage("prod")
    domain = prod.custom_domain
    assert domain is not None and domain["tls_version"] == "TLS_1_2"
    assert prod.issuer_url == f"https://{domain['domain_name']}"


def test_each_stage_serves_its_own_issuer(monkeypatch):
    from chalice.test import Client

    from app import app
    from chalicelib import services

    monkeypatch.delenv("ISSUER_URL")  # the stage's own environment decides
    for stage, issuer in (("prod", "https://auth.example.com"), ("local", "http://127.0.0.1:8000")):
        services.reset()
        with Client(app, stage_name=stage) as client:
            document = json.loads(client.http.get("/.well-known/openid-configuration").body)
        assert (document["issuer"], document["token_endpoint"]) == (issuer, f"{issuer}/oauth2/token")
    services.reset()


def test_rotation_schedule_is_read_from_the_environment():
    code = (
        "import app; "
        "(rotation,) = [s for s in app.app.event_sources if s.name == 'rotate_keys']; "
        "print(rotation.schedule_expression)"
    )
    env = {"KEY_ROTATION_SCHEDULE": "rate(7 days)", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "rate(7 days)"


# --------------------------------------------------------------------------- the issuer behind API Gateway


@pytest.fixture
def execute_api_issuer(monkeypatch):
    """The issuer as the API Gateway stage URL (https://{id}.execute-api.{region}.amazonaws.com/api)."""
    from chalicelib import services

    monkeypatch.setenv("ISSUER_URL", EXECUTE_API_ISSUER + "/")  # a trailing slash is forgiven
    services.reset()


def test_discovery_lists_every_endpoint_under_an_api_gateway_stage_path(execute_api_issuer, http):
    document = json.loads(http.get("/.well-known/openid-configuration").body)
    assert document["issuer"] == EXECUTE_API_ISSUER
    assert document["token_endpoint"] == EXECUTE_API_ISSUER + "/oauth2/token"
    assert document["jwks_uri"] == EXECUTE_API_ISSUER + "/.well-known/jwks.json"
    assert document["authorization_endpoint"] == EXECUTE_API_ISSUER + "/oauth2/auth"


def test_tokens_carry_the_stage_url_issuer(execute_api_issuer, http, register):
    client = register(grant_types=["client_credentials"], scope="a")
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    answer = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
    token = json.loads(answer.body)["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["iss"] == EXECUTE_API_ISSUER


def test_authorization_redirects_to_the_login_page_under_the_stage_path(execute_api_issuer, http, register):
    client = register(
        grant_types=["authorization_code"],
        response_types=["code"],
        redirect_uris=["https://app.example.com/callback"],
        scope="openid",
        token_endpoint_auth_method="none",
    )
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": "https://app.example.com/callback",
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    answer = http.get("/oauth2/auth?" + urlencode(query))
    location = urlsplit(answer.headers["Location"])
    assert answer.status_code in (302, 303)
    assert f"{location.scheme}://{location.netloc}{location.path}" == EXECUTE_API_ISSUER + "/ui/login"
    assert parse_qs(location.query)["login_challenge"]
