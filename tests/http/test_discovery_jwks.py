"""RFC 8414 / OIDC Discovery metadata and the RFC 7517 key set."""

from __future__ import annotations

import json

from tests.conftest import ISSUER

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_both_discovery_documents_describe_what_works(http):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = json.loads(http.get(path).body)
        assert meta["issuer"] == ISSUER
        assert meta["token_endpoint"] == f"{ISSUER}/oauth2/token"
        assert meta["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
        assert meta["introspection_endpoint"] == f"{ISSUER}/oauth2/introspect"
        assert meta["revocation_endpoint"] == f"{ISSUER}/oauth2/revoke"
        assert meta["authorization_endpoint"] == f"{ISSUER}/oauth2/auth"
        assert meta["userinfo_endpoint"] == f"{ISSUER}/userinfo"
        assert meta["end_session_endpoint"] == f"{ISSUER}/oauth2/sessions/logout"
        assert set(meta["grant_types_supported"]) >= {"authorization_code", "client_credentials", "refresh_token"}
        assert "password" not in json.dumps(meta) and "implicit" not in meta["grant_types_supported"]
        assert meta["response_types_supported"] == ["code"]
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert {"openid", "profile", "email", "offline_access"} <= set(meta["scopes_supported"])
        assert {"none", "login", "consent"} <= set(meta["prompt_values_supported"])
        assert meta["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
        assert meta["subject_types_supported"] == ["public"]


def test_jwks_publishes_public_parts_only_with_kid_alg_use(http):
    keys = json.loads(http.get("/.well-known/jwks.json").body)["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not PRIVATE_MEMBERS & set(key), key
        assert "status" not in key and "key_ops" not in key


def test_security_headers_on_every_response(http):
    response = http.get("/.well-known/jwks.json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_deployed_stage_without_issuer_url_refuses_instead_of_naming_the_local_issuer(aws, monkeypatch):
    from chalice.test import Client

    from app import app
    from chalicelib import services

    monkeypatch.delenv("ISSUER_URL")
    services.reset()
    with Client(app, stage_name="dev") as client:  # the dev stage's settings, as deployed before its first issuer
        response = client.http.get("/.well-known/openid-configuration")
    assert response.status_code == 500 and json.loads(response.body)["error"] == "server_error"
    assert "127.0.0.1" not in response.body.decode()
    monkeypatch.setenv("ISSUER_URL", "https://auth.example.com")
    services.reset()
    with Client(app, stage_name="dev") as client:
        assert (
            json.loads(client.http.get("/.well-known/openid-configuration").body)["issuer"]
            == "https://auth.example.com"
        )
