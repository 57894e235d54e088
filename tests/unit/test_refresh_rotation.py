"""Refresh rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14), on the core alone (tests/unit/core.py).

UserInfo, logout and the DynamoDB grant index's lag: tests/http/test_refresh_userinfo_logout.py."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.conftest import FORM, basic
from tests.oauth_flow import (
    REDIRECT_URI,
    Browser,
    code_for,
    error_of,
    exchange,
    introspect,
    opaque_app,
    refresh,
    signed_in_tokens,
)

SCOPE = "openid offline_access profile email"

# These tests are about what a refresh issues and revokes; how often one may refresh: test_refresh_pace.py.
pytestmark = pytest.mark.usefixtures("refresh_anytime")


def tokens(http, browser, client, subject="user-1", scope=SCOPE):
    return signed_in_tokens(http, client, scope, browser=browser, subject=subject)


@pytest.fixture
def web_app(register):
    return register(
        client_name="Web app",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope=SCOPE,
    )


@pytest.fixture
def browser(http):
    return Browser(http)


def test_refresh_rotates_the_refresh_token(http, browser, web_app):
    first = tokens(http, browser, web_app)
    response = refresh(http, web_app, first["refresh_token"])
    assert response.status_code == 200
    second = json.loads(response.body)
    assert second["refresh_token"] != first["refresh_token"] and second["id_token"]
    assert refresh(http, web_app, second["refresh_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(http, browser, web_app):
    first = tokens(http, browser, web_app)
    second = json.loads(refresh(http, web_app, first["refresh_token"]).body)
    reuse = refresh(http, web_app, first["refresh_token"])
    assert reuse.status_code == 400 and error_of(reuse) == "invalid_grant"
    assert error_of(refresh(http, web_app, second["refresh_token"])) == "invalid_grant"
    assert introspect(http, web_app, second["access_token"]) == {"active": False}
    assert introspect(http, web_app, first["access_token"]) == {"active": False}


def test_refresh_scope_may_narrow_but_never_widen(http, browser, web_app):
    first = tokens(http, browser, web_app, scope="openid offline_access profile")
    widened = refresh(http, web_app, first["refresh_token"], scope="openid offline_access email")
    assert error_of(widened) == "invalid_scope"
    narrowed = tokens(http, Browser(http), web_app, scope="openid offline_access profile")
    body = json.loads(refresh(http, web_app, narrowed["refresh_token"], scope="profile").body)
    assert body["scope"] == "profile" and "id_token" not in body


def test_refresh_token_is_bound_to_its_client(http, browser, web_app, register):
    other = register(grant_types=["authorization_code", "refresh_token"], redirect_uris=[REDIRECT_URI], scope=SCOPE)
    first = tokens(http, browser, web_app)
    assert error_of(refresh(http, other, first["refresh_token"])) == "invalid_grant"


def test_unknown_refresh_token_is_invalid_grant(http, web_app):
    assert error_of(refresh(http, web_app, "tg_rt_nothing")) == "invalid_grant"


def test_revoking_a_refresh_token_revokes_its_access_tokens(http, browser, web_app):
    first = tokens(http, browser, web_app)
    headers = {**FORM, "Authorization": basic(web_app["client_id"], web_app["client_secret"])}
    body = urlencode({"token": first["refresh_token"], "token_type_hint": "refresh_token"})
    assert http.post("/oauth2/revoke", headers=headers, body=body).status_code == 200
    assert introspect(http, web_app, first["access_token"]) == {"active": False}
    assert error_of(refresh(http, web_app, first["refresh_token"])) == "invalid_grant"


def test_refresh_token_introspects_active_until_rotated(http, browser, web_app):
    first = tokens(http, browser, web_app)
    answer = introspect(http, web_app, first["refresh_token"])
    assert answer["active"] is True and answer["client_id"] == web_app["client_id"] and answer["sub"] == "user-1"
    refresh(http, web_app, first["refresh_token"])
    assert introspect(http, web_app, first["refresh_token"]) == {"active": False}


def test_an_exchange_still_writing_when_its_code_is_replayed_hands_out_nothing(http, browser, register, monkeypatch):
    """The first exchange consumed the code; before it stores its tokens, a replay revokes the grant."""
    from chalicelib.tokens import jws

    client = opaque_app(register, SCOPE)
    code, verifier = code_for(browser, client, SCOPE)
    sign, replays = jws.sign, []

    def sign_then_replay(*args, **kwargs):
        if not replays:  # the replay lands while the first exchange is between consume and store
            replays.append(exchange(http, client, code, verifier))
        return sign(*args, **kwargs)

    monkeypatch.setattr(jws, "sign", sign_then_replay)
    first = exchange(http, client, code, verifier)
    assert error_of(replays[0]) == "invalid_grant"
    assert first.status_code == 400 and error_of(first) == "invalid_grant"


def test_a_refresh_token_introspects_only_to_its_own_client(http, browser, web_app, register):
    """RFC 7662 §4: a refresh token is for its client alone, even an audience of its access tokens learns nothing."""
    api = register(grant_types=["client_credentials"], scope="a")
    first = tokens(http, browser, web_app)
    assert introspect(http, api, first["refresh_token"]) == {"active": False}
    assert introspect(http, web_app, first["refresh_token"])["active"] is True
