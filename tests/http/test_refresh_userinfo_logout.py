"""Refresh revocation under DynamoDB's lagging grant index, UserInfo (OIDC Core §5.3, RFC 6750), RP-initiated logout.

Refresh rotation and reuse detection alone: tests/unit/test_refresh_rotation.py."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from urllib.parse import urlencode

import pytest

from tests.conftest import FORM, ISSUER, basic
from tests.oauth_flow import (
    REDIRECT_URI,
    Browser,
    authorize_url,
    code_for,
    error_of,
    exchange,
    introspect,
    opaque_app,
    pkce_pair,
    query_of,
    refresh,
    signed_in_tokens,
)

SCOPE = "openid offline_access profile email"
LOGOUT_URI = "https://app.example.com/bye"

# These tests are about what a refresh issues and revokes; how often one may refresh: test_refresh_pace.py.
pytestmark = pytest.mark.usefixtures("refresh_anytime")


@pytest.fixture
def person(aws, cheap_passwords):
    from chalicelib.admin import handle

    answer = handle(
        {
            "operation": "users.create",
            "params": {
                "username": "ada",
                "password": "correct horse battery",
                "email": "ada@example.com",
                "name": "Ada",
            },
        }
    )
    return answer["result"]


def tokens(http, browser, client, subject="user-1", scope=SCOPE):
    return signed_in_tokens(http, client, scope, browser=browser, subject=subject)


@pytest.fixture
def web_app(register):
    return register(
        client_name="Web app",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[LOGOUT_URI],
        scope=SCOPE,
    )


@pytest.fixture
def browser(http):
    return Browser(http)


@pytest.fixture
def lagging_grant_index(aws, monkeypatch):
    """DynamoDB's grant_id index is eventually consistent: an item written a few hundred ms
    before the query may be missing from it.  Here the index misses everything."""
    from chalicelib.config import settings
    from chalicelib.storage.state import state_model

    index = state_model(settings().state_table).by_grant
    monkeypatch.setattr(index, "query", lambda *args, **kwargs: iter(()))


@pytest.mark.parametrize("strategy", ["jwt", "opaque"])
def test_code_replay_revokes_the_tokens_the_grant_index_has_not_seen_yet(
    http, browser, register, person, lagging_grant_index, strategy
):
    client = register(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope=SCOPE,
        access_token_strategy=strategy,
    )
    code, verifier = code_for(browser, client, SCOPE, person["user_id"])
    first = json.loads(exchange(http, client, code, verifier).body)
    assert userinfo(http, first["access_token"]).status_code == 200
    assert error_of(exchange(http, client, code, verifier)) == "invalid_grant"  # the replay
    assert introspect(http, client, first["access_token"]) == {"active": False}
    assert introspect(http, client, first["refresh_token"]) == {"active": False}
    assert userinfo(http, first["access_token"]).status_code == 401
    assert error_of(refresh(http, client, first["refresh_token"])) == "invalid_grant"


def test_refresh_token_reuse_revokes_the_new_tokens_the_grant_index_has_not_seen_yet(
    http, browser, register, person, lagging_grant_index
):
    client = opaque_app(register, SCOPE)
    code, verifier = code_for(browser, client, SCOPE, person["user_id"])
    first = json.loads(exchange(http, client, code, verifier).body)
    second = json.loads(refresh(http, client, first["refresh_token"]).body)
    assert error_of(refresh(http, client, first["refresh_token"])) == "invalid_grant"  # reuse: theft
    assert introspect(http, client, second["access_token"]) == {"active": False}
    assert userinfo(http, second["access_token"]).status_code == 401
    assert error_of(refresh(http, client, second["refresh_token"])) == "invalid_grant"


def test_a_refresh_token_from_before_values_named_their_grant_works_until_its_grant_is_revoked(
    http, browser, web_app, lagging_grant_index
):
    from chalicelib import services
    from chalicelib.oauth.models.refresh_token import RefreshToken
    from chalicelib.tokens.hashing import digest

    store = services.state_store()
    first = tokens(http, browser, web_app)
    record = store.find(RefreshToken.KIND, digest(first["refresh_token"]))

    def older_value():  # the same grant's record, under a value of the earlier form tg_rt_<random>
        value = "tg_rt_" + secrets.token_urlsafe(32)
        store.upsert(dataclasses.replace(record, id=digest(value)))
        return value

    assert introspect(http, web_app, older_value())["active"] is True
    older = older_value()
    assert refresh(http, web_app, older).status_code == 200
    assert error_of(refresh(http, web_app, older)) == "invalid_grant"  # reuse: the grant is revoked
    assert introspect(http, web_app, first["refresh_token"]) == {"active": False}
    assert introspect(http, web_app, older_value()) == {"active": False}
    assert error_of(refresh(http, web_app, older_value())) == "invalid_grant"


def userinfo(http, token, method="GET"):
    if method == "GET":
        return http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    return http.post("/userinfo", headers=FORM, body=urlencode({"access_token": token}))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_returns_claims_by_granted_scope(http, browser, web_app, person, method):
    body = tokens(http, browser, web_app, subject=person["user_id"], scope="openid email")
    response = userinfo(http, body["access_token"], method)
    assert response.status_code == 200
    assert json.loads(response.body) == {"sub": person["user_id"], "email": "ada@example.com", "email_verified": False}


def test_userinfo_profile_scope(http, browser, web_app, person):
    body = tokens(http, browser, web_app, subject=person["user_id"], scope="openid profile")
    claims = json.loads(userinfo(http, body["access_token"]).body)
    assert claims == {"sub": person["user_id"], "preferred_username": "ada", "name": "Ada"}


def test_userinfo_refuses_missing_invalid_revoked_and_openid_less_tokens(http, browser, web_app, person):
    missing = http.get("/userinfo")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="tollgate"'
    bad = userinfo(http, "not-a-token")
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    no_openid = tokens(http, browser, web_app, subject=person["user_id"], scope="profile")
    refused = userinfo(http, no_openid["access_token"])
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    revoked = tokens(http, Browser(http), web_app, subject=person["user_id"], scope="openid")
    headers = {**FORM, "Authorization": basic(web_app["client_id"], web_app["client_secret"])}
    http.post("/oauth2/revoke", headers=headers, body=urlencode({"token": revoked["access_token"]}))
    assert userinfo(http, revoked["access_token"]).status_code == 401


def test_userinfo_token_in_header_and_body_is_invalid_request(http, browser, web_app, person):
    body = tokens(http, browser, web_app, subject=person["user_id"], scope="openid")
    headers = {**FORM, "Authorization": f"Bearer {body['access_token']}"}
    response = http.post("/userinfo", headers=headers, body=urlencode({"access_token": body["access_token"]}))
    assert response.status_code == 400


def _logout_form(response):
    html = response.body.decode()
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', html))
    return fields


def test_logout_asks_then_ends_the_session_and_redirects_with_state(http, browser, web_app):
    body = tokens(http, browser, web_app)
    query = urlencode({"id_token_hint": body["id_token"], "post_logout_redirect_uri": LOGOUT_URI, "state": "bye-1"})
    page = browser.get(f"{ISSUER}/oauth2/sessions/logout?{query}")
    assert page.status_code == 200 and "Sign out" in page.body.decode()
    fields = _logout_form(page)
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    response = http.post("/oauth2/sessions/logout", headers={**FORM, "Cookie": cookie}, body=urlencode(fields))
    assert response.status_code == 303
    assert response.headers["Location"] == f"{LOGOUT_URI}?state=bye-1"
    browser._keep(response.headers.get("Set-Cookie"))
    _, challenge = pkce_pair()
    url = authorize_url(
        web_app["client_id"],
        scope="openid",
        code_challenge=challenge,
        code_challenge_method="S256",
        prompt="none",
        state="s",
    )
    assert query_of(browser.get(url).headers["Location"])["error"] == "login_required"


def test_logout_without_csrf_token_is_refused(http, browser, web_app):
    tokens(http, browser, web_app)
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    response = http.post("/oauth2/sessions/logout", headers={**FORM, "Cookie": cookie}, body="")
    # Without our token the POST is an RP asking to log out: it gets the confirmation page, nothing ends.
    assert response.status_code == 200 and "Sign out" in response.body.decode()
    forged = http.post("/oauth2/sessions/logout", headers={**FORM, "Cookie": cookie}, body="csrf_token=forged")
    assert forged.status_code == 403


def test_unregistered_post_logout_redirect_uri_is_never_used(http, browser, web_app):
    body = tokens(http, browser, web_app)
    query = urlencode({"id_token_hint": body["id_token"], "post_logout_redirect_uri": "https://evil.example.com/"})
    response = browser.get(f"{ISSUER}/oauth2/sessions/logout?{query}")
    assert response.status_code == 400 and "Location" not in response.headers


def test_foreign_id_token_hint_is_refused(http, browser):
    response = browser.get(f"{ISSUER}/oauth2/sessions/logout?id_token_hint=eyJhbGciOiJub25lIn0.e30.")
    assert response.status_code == 400


def test_userinfo_refuses_a_token_whose_audience_is_only_an_api(http, register):
    """RFC 6750 §3.1: a client_credentials token for an API, even with scope openid, is not for /userinfo."""
    machine = register(grant_types=["client_credentials"], scope="openid api", audience=["https://api.example.com"])
    headers = {**FORM, "Authorization": basic(machine["client_id"], machine["client_secret"])}
    body = urlencode({"grant_type": "client_credentials", "scope": "openid api"})
    token = json.loads(http.post("/oauth2/token", headers=headers, body=body).body)["access_token"]
    response = userinfo(http, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert json.loads(response.body)["error"] == "invalid_token"


@pytest.mark.parametrize("strategy", ["jwt", "opaque"])
def test_sign_in_token_is_also_for_the_issuer_so_userinfo_accepts_it(http, register, person, strategy):
    client = register(
        grant_types=["authorization_code"],
        redirect_uris=[REDIRECT_URI],
        scope="openid email",
        audience=["https://api.example.com"],
        access_token_strategy=strategy,
    )
    body = tokens(http, Browser(http), client, subject=person["user_id"], scope="openid email")
    assert introspect(http, client, body["access_token"])["aud"] == ["https://api.example.com", ISSUER]
    assert userinfo(http, body["access_token"]).status_code == 200


def test_a_token_without_openid_is_not_for_the_issuer(http, browser, web_app, person):
    body = tokens(http, browser, web_app, subject=person["user_id"], scope="profile")
    assert introspect(http, web_app, body["access_token"])["aud"] == web_app["client_id"]
