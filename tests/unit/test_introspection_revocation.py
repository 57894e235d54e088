"""RFC 7662 introspection and RFC 7009 revocation of access tokens, on the core alone (tests/unit/core.py)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import FORM, ISSUER, basic


@pytest.fixture
def caller(register):
    return register(grant_types=["client_credentials"], scope="a b", audience=["https://api.example.com"])


def auth(client):
    return {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}


def issue(http, client, **extra):
    body = urlencode({"grant_type": "client_credentials", **extra})
    return json.loads(http.post("/oauth2/token", headers=auth(client), body=body).body)["access_token"]


def introspect(http, client, token):
    response = http.post("/oauth2/introspect", headers=auth(client), body=urlencode({"token": token}))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return json.loads(response.body)


def revoke(http, client, token, **extra):
    return http.post("/oauth2/revoke", headers=auth(client), body=urlencode({"token": token, **extra}))


@pytest.mark.parametrize("strategy", ["jwt", "opaque"])
def test_live_token_introspects_active_with_its_claims(http, register, strategy):
    client = register(grant_types=["client_credentials"], scope="a b", access_token_strategy=strategy)
    answer = introspect(http, client, issue(http, client, scope="a"))
    assert answer["active"] is True and answer["token_type"] == "Bearer"
    assert answer["scope"] == "a" and answer["client_id"] == client["client_id"] == answer["sub"]
    assert answer["iss"] == ISSUER and answer["exp"] > answer["iat"] and answer["jti"] and answer["aud"]


@pytest.mark.parametrize("strategy", ["jwt", "opaque"])
def test_revoked_token_introspects_inactive(http, register, strategy):
    client = register(grant_types=["client_credentials"], scope="a", access_token_strategy=strategy)
    token = issue(http, client)
    response = revoke(http, client, token, token_type_hint="access_token")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert introspect(http, client, token) == {"active": False}


def _forged(claims, **header):
    key = rsa.generate_private_key(65537, 2048)
    return jwt.encode(claims, key, algorithm="RS256", headers=header)


def _claims(client_id, **overrides):
    now = int(time.time())
    return {"iss": ISSUER, "sub": client_id, "aud": "x", "exp": now + 600, "iat": now, "jti": "j", **overrides}


def test_anything_but_a_live_token_is_exactly_inactive(http, caller):
    real = issue(http, caller)
    kid = jwt.get_unverified_header(real)["kid"]
    _, payload, _ = real.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt","kid":"' + kid.encode() + b'"}')
    candidates = [
        "not-a-token",
        "tg_at_unknown",
        real[:-4] + "AAAA",  # bad signature
        f"{none_header.rstrip(b'=').decode()}.{payload}.",  # alg: none
        _forged(_claims(caller["client_id"]), kid=kid, typ="at+jwt"),  # foreign key, our kid
        _forged(_claims(caller["client_id"], exp=int(time.time()) - 10)),
    ]
    for token in candidates:
        assert introspect(http, caller, token) == {"active": False}, token


def test_values_naming_a_grant_oddly_are_inactive_never_a_server_error(http, caller):
    grant = "g" * 22
    candidates = [
        f"tg_at_{'g' * 5000}.x",  # too long to be a table key
        f"tg_rt_{'g' * 65}.x",
        f"tg_at_{grant}.",
        f"tg_rt_{grant}.x",
        "tg_at_.x",
        "tg_rt_é.x",
        "tg_at_a.b.c",
        "tg_rt_\\.x",
    ]
    for token in candidates:
        assert introspect(http, caller, token) == {"active": False}, token
        assert revoke(http, caller, token).status_code == 200, token


def test_expired_token_is_inactive(http, caller, monkeypatch, frozen_clock):
    from chalicelib import services

    monkeypatch.setenv("ACCESS_TOKEN_TTL", "1")
    services.reset()
    frozen_clock[0] -= 2  # issued two seconds ago (PyJWT checks exp on the real clock)
    token = issue(http, caller)
    frozen_clock[0] += 2
    assert introspect(http, caller, token) == {"active": False}


@pytest.mark.parametrize("strategy", ["jwt", "opaque"])
def test_another_clients_token_introspects_exactly_as_an_invalid_one(http, register, caller, strategy):
    """RFC 7662 §2.2, §4: a confidential client that is neither the token's client nor its audience learns nothing."""
    owner = register(grant_types=["client_credentials"], scope="a", access_token_strategy=strategy)
    token = issue(http, owner)
    assert introspect(http, caller, token) == {"active": False}
    assert introspect(http, owner, token)["active"] is True


@pytest.mark.parametrize("strategy", ["jwt", "opaque"])
def test_the_api_named_as_the_tokens_audience_may_introspect_it(http, register, strategy):
    api = register(grant_types=["client_credentials"], scope="a")
    app = register(
        grant_types=["client_credentials"],
        scope="a",
        audience=[api["client_id"], "https://other.example.com"],
        access_token_strategy=strategy,
    )
    for_api = issue(http, app, audience=api["client_id"])
    answer = introspect(http, api, for_api)
    assert answer["active"] is True and answer["client_id"] == app["client_id"] and answer["aud"] == api["client_id"]
    for_other = issue(http, app, audience="https://other.example.com")
    assert introspect(http, api, for_other) == {"active": False}


def test_introspection_requires_a_confidential_client(http, register, caller):
    token = issue(http, caller)
    public = register(
        grant_types=["authorization_code"], redirect_uris=["http://127.0.0.1/cb"], token_endpoint_auth_method="none"
    )
    body = urlencode({"token": token, "client_id": public["client_id"]})
    response = http.post("/oauth2/introspect", headers=FORM, body=body)
    assert json.loads(response.body)["error"] == "invalid_client"
    anonymous = http.post("/oauth2/introspect", headers=FORM, body=urlencode({"token": token}))
    assert anonymous.status_code == 401


def test_introspection_without_token_is_invalid_request(http, caller):
    response = http.post("/oauth2/introspect", headers=auth(caller), body="")
    assert json.loads(response.body)["error"] == "invalid_request"


def test_unknown_token_revocation_answers_200(http, caller):
    assert revoke(http, caller, "tg_at_never-issued").status_code == 200
    assert revoke(http, caller, "garbage").status_code == 200


def test_a_client_cannot_revoke_another_clients_token(http, register, caller):
    other = register(grant_types=["client_credentials"], scope="a")
    token = issue(http, caller)
    response = revoke(http, other, token)
    assert response.status_code == 400 and json.loads(response.body)["error"] == "unauthorized_client"
    assert introspect(http, caller, token)["active"] is True


def test_revocation_requires_client_authentication(http, caller):
    token = issue(http, caller)
    response = http.post("/oauth2/revoke", headers=FORM, body=urlencode({"token": token}))
    assert json.loads(response.body)["error"] == "invalid_client"
    assert introspect(http, caller, token)["active"] is True


@pytest.mark.parametrize("strategy", ["jwt", "opaque"])
def test_a_token_no_longer_live_answers_200_to_its_owner_and_to_any_other_client(http, register, strategy):
    owner = register(grant_types=["client_credentials"], scope="a", access_token_strategy=strategy)
    other = register(grant_types=["client_credentials"], scope="a")
    token = issue(http, owner)
    assert revoke(http, owner, token).status_code == 200
    assert revoke(http, owner, token).status_code == 200
    assert revoke(http, other, token).status_code == 200
    assert introspect(http, owner, token) == {"active": False}
