"""RFC 6749 §4.4 client credentials and RFC 9068 access tokens, on the core alone (tests/unit/core.py)."""

from __future__ import annotations

import json

import jwt
import pytest

from tests.conftest import API, ISSUER
from tests.oauth_flow import error_of, post_token


def verify(http, token):
    jwks = json.loads(http.get("/.well-known/jwks.json").body)
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    key = jwt.PyJWK(jwk)
    return jwt.decode(token, key.key, algorithms=[jwk["alg"]], audience=API, issuer=ISSUER)


def test_client_credentials_token_is_an_rfc9068_jwt_verifiable_with_jwks(http, machine):
    response = post_token(
        http, {"grant_type": "client_credentials", "scope": "invoices:read", "audience": API}, client=machine
    )
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "invoices:read"
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["kid"] and header["alg"] == "RS256"
    claims = verify(http, body["access_token"])
    assert claims["sub"] == machine["client_id"] == claims["client_id"]
    assert claims["aud"] == API and claims["scope"] == "invoices:read"
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]


def test_omitted_scope_grants_the_clients_registered_scope(http, machine):
    body = json.loads(post_token(http, {"grant_type": "client_credentials"}, client=machine).body)
    assert body["scope"] == "invoices:read invoices:write"


def test_scope_outside_the_clients_scope_is_invalid_scope(http, machine):
    response = post_token(http, {"grant_type": "client_credentials", "scope": "invoices:read admin"}, client=machine)
    assert response.status_code == 400 and error_of(response) == "invalid_scope"


def test_malformed_scope_is_invalid_scope(http, machine):
    response = post_token(http, {"grant_type": "client_credentials", "scope": 'invoices:read "x'}, client=machine)
    assert error_of(response) == "invalid_scope"


def test_audience_not_registered_is_invalid_target(http, machine):
    response = post_token(
        http, {"grant_type": "client_credentials", "audience": "https://evil.example.com"}, client=machine
    )
    assert response.status_code == 400 and error_of(response) == "invalid_target"


def test_several_audience_parameters_are_all_granted(http, machine):
    body = {"grant_type": "client_credentials", "audience": [API, "https://other.example.com"]}
    token = json.loads(post_token(http, body, client=machine).body)["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == [API, "https://other.example.com"]


def test_without_audience_the_token_is_for_the_registered_audience_else_the_client(http, machine, register):
    token = json.loads(post_token(http, {"grant_type": "client_credentials"}, client=machine).body)["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == [API, "https://other.example.com"]
    bare = register(grant_types=["client_credentials"], scope="a")
    token = json.loads(post_token(http, {"grant_type": "client_credentials"}, client=bare).body)["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == bare["client_id"]


def test_es256_signed_access_tokens_verify(http, machine, monkeypatch):
    from chalicelib import services

    monkeypatch.setenv("ACCESS_TOKEN_SIGNING_ALG", "ES256")
    services.reset()
    token = json.loads(post_token(http, {"grant_type": "client_credentials", "audience": API}, client=machine).body)
    assert jwt.get_unverified_header(token["access_token"])["alg"] == "ES256"
    assert verify(http, token["access_token"])["client_id"] == machine["client_id"]


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:example:unknown"])
def test_password_and_unknown_grants_are_unsupported_grant_type(http, machine, grant_type):
    response = post_token(http, {"grant_type": grant_type, "username": "u", "password": "p"}, client=machine)
    assert response.status_code == 400 and error_of(response) == "unsupported_grant_type"


def test_grant_the_client_is_not_registered_for_is_unauthorized_client(http, register):
    client = register(grant_types=["authorization_code"], redirect_uris=["https://app.example.com/cb"], scope="a")
    response = post_token(http, {"grant_type": "client_credentials"}, client=client)
    assert error_of(response) == "unauthorized_client"


def test_duplicate_parameters_are_invalid_request(http, machine):
    response = post_token(
        http, "grant_type=client_credentials&scope=invoices:read&scope=invoices:write", client=machine
    )
    assert response.status_code == 400 and error_of(response) == "invalid_request"


def test_missing_grant_type_is_invalid_request(http, machine):
    assert error_of(post_token(http, {"scope": "invoices:read"}, client=machine)) == "invalid_request"
