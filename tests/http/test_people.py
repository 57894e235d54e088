"""Control over a person: users disable|enable|sign-out, consents list|revoke, refresh re-checking the client."""

from __future__ import annotations

import json

import pytest

from chalicelib import admin, cli, services
from chalicelib.oauth import users
from chalicelib.oauth.password_login import PasswordLogin, WrongCredentials
from chalicelib.oauth.users import ScryptCost
from tests.oauth_flow import (
    REDIRECT_URI,
    Browser,
    authorize_url,
    exchange,
    introspect,
    pkce_pair,
    sign_in,
    token_call,
)

pytestmark = pytest.mark.usefixtures("refresh_anytime")  # refreshes right after sign-in

SCOPE = "openid offline_access profile"


@pytest.fixture
def cheap(monkeypatch):
    monkeypatch.setattr(users, "COST", ScryptCost(log2_n=10, r=8, p=1))


@pytest.fixture
def person(aws, cheap):
    created = admin.handle({"operation": "users.create", "params": {"username": "ada", "password": "right password"}})
    return created["result"]


def _app(register, **extra):
    return register(
        grant_types=["authorization_code", "refresh_token"], redirect_uris=[REDIRECT_URI], scope=SCOPE, **extra
    )


@pytest.fixture
def web_app(register):
    return _app(register)


@pytest.fixture
def opaque_app(register):
    return _app(register, access_token_strategy="opaque")


def _operation(operation, **params):
    return admin.handle({"operation": operation, "params": params})


def _tokens(http, browser, client, subject, scope=SCOPE, **consent):
    verifier, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope=scope, code_challenge=challenge, code_challenge_method="S256")
    response = exchange(http, client, sign_in(browser, url, subject, **consent)["code"], verifier)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def _refresh(http, client, tokens, **extra):
    return token_call(http, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **extra})


def _error(response):
    return json.loads(response.body)["error"]


def _userinfo_status(http, tokens):
    return http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code


def _next_step(browser, client):
    """Where a new authorization request of ``client`` sends this browser: login, consent or the client."""
    _, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope=SCOPE, code_challenge=challenge, code_challenge_method="S256")
    location = browser.get(url).headers["Location"]
    if "login_challenge=" in location:
        return "login"
    if "consent_challenge=" in location:
        return "consent"
    assert "code=" in location, location
    return "client"


# --- users disable / enable ----------------------------------------------------------------


def test_a_disabled_user_is_refused_like_a_wrong_password_until_enabled(person):
    login = PasswordLogin(
        services.users(),
        services.state_store(),
        services.pepper(),
        max_failures=10,
        max_delay=600,
        username_ceiling=100,
    )
    assert _operation("users.disable", user_id=person["user_id"])["result"]["disabled"] is True
    with pytest.raises(WrongCredentials):
        login.authenticate("ada", "right password", "192.0.2.1")
    assert _operation("users.enable", user_id=person["user_id"])["result"]["disabled"] is False
    assert login.authenticate("ada", "right password", "192.0.2.1").user_id == person["user_id"]


def test_disabling_a_person_stops_their_refresh_tokens_session_and_access_tokens(http, web_app, person):
    browser = Browser(http)
    tokens = _tokens(http, browser, web_app, person["user_id"], remember=True)
    assert _next_step(browser, web_app) == "client"  # the session and remembered consent work
    _operation("users.disable", user_id=person["user_id"])
    assert _error(_refresh(http, web_app, tokens)) == "invalid_grant"
    assert _userinfo_status(http, tokens) == 401
    assert introspect(http, web_app, tokens["access_token"]) == {"active": False}
    assert _next_step(browser, web_app) == "login"


def test_enabling_lets_the_person_sign_in_again_but_brings_nothing_back(http, web_app, person, frozen_clock):
    frozen_clock[0] -= 1  # what comes before the new sign-in happens a second earlier: sign-out voids its whole second
    old = _tokens(http, Browser(http), web_app, person["user_id"])
    _operation("users.disable", user_id=person["user_id"])
    _operation("users.enable", user_id=person["user_id"])
    assert _error(_refresh(http, web_app, old)) == "invalid_grant"
    assert _userinfo_status(http, old) == 401
    frozen_clock[0] += 1
    new = _tokens(http, Browser(http), web_app, person["user_id"])
    assert _refresh(http, web_app, new).status_code == 200
    assert _userinfo_status(http, new) == 200


def test_userinfo_refuses_a_disabled_persons_opaque_token_even_before_any_sign_out(http, opaque_app, person):
    tokens = _tokens(http, Browser(http), opaque_app, person["user_id"])
    assert _userinfo_status(http, tokens) == 200
    services.users().set_disabled(person["user_id"], True)  # the flag alone, as if the sign-out had not run yet
    assert _userinfo_status(http, tokens) == 401


def test_disable_and_enable_need_a_user_of_the_built_in_store(aws):
    assert _operation("users.disable", user_id="nobody")["error"] == "not_found"
    assert _operation("users.enable", user_id="username#ada")["error"] == "not_found"
    assert _operation("users.disable")["error"] == "invalid_request"
    assert _operation("users.sign_out", user_id=7)["error"] == "invalid_request"


# --- users sign-out --------------------------------------------------------------------------


def test_sign_out_ends_every_session_and_revokes_every_grant_of_any_subject(http, web_app, opaque_app):
    browser = Browser(http)
    jwt_tokens = _tokens(http, browser, web_app, "crm-42")
    opaque_tokens = _tokens(http, browser, opaque_app, "crm-42")
    bystander = _tokens(http, Browser(http), web_app, "crm-7")
    answer = _operation("users.sign_out", user_id="crm-42")["result"]
    assert answer == {"user_id": "crm-42", "sessions_ended": 1, "grants_revoked": 2}
    for client, tokens in ((web_app, jwt_tokens), (opaque_app, opaque_tokens)):
        assert _error(_refresh(http, client, tokens)) == "invalid_grant"
        assert introspect(http, client, tokens["access_token"]) == {"active": False}
        assert _userinfo_status(http, tokens) == 401
    assert _next_step(browser, web_app) == "login"
    assert _refresh(http, web_app, bystander).status_code == 200


def test_the_sign_out_marker_alone_refuses_what_the_index_has_not_found_yet(http, web_app):
    # The subject index lags: the marker must stop a refresh token, a session and a JWT on its own.
    browser = Browser(http)
    tokens = _tokens(http, browser, web_app, "crm-42")
    services.access_tokens().sign_out("crm-42")
    assert _error(_refresh(http, web_app, tokens)) == "invalid_grant"
    assert _userinfo_status(http, tokens) == 401
    assert introspect(http, web_app, tokens["access_token"]) == {"active": False}
    assert _next_step(browser, web_app) == "login"


def test_a_session_started_before_sign_out_cannot_mint_a_code_afterwards(http, web_app):
    # A grant whose sign-in predates the sign-out is refused when its tokens would be stored.
    browser = Browser(http)
    verifier, challenge = pkce_pair()
    url = authorize_url(web_app["client_id"], scope=SCOPE, code_challenge=challenge, code_challenge_method="S256")
    code = sign_in(browser, url, "crm-42")["code"]
    services.access_tokens().sign_out("crm-42")
    assert _error(exchange(http, web_app, code, verifier)) == "invalid_grant"


# --- consents list / revoke ------------------------------------------------------------------


def test_consents_list_shows_each_client_and_revoke_forgets_one_client_and_its_grants(http, web_app, opaque_app):
    browser = Browser(http)
    first = _tokens(http, browser, web_app, "crm-42", remember=True)
    second = _tokens(http, browser, opaque_app, "crm-42", remember=True)
    listed = _operation("consents.list", user_id="crm-42")["result"]
    assert {(c["client_id"], c["scope"]) for c in listed} == {
        (web_app["client_id"], SCOPE),
        (opaque_app["client_id"], SCOPE),
    }
    one = _operation("consents.list", user_id="crm-42", client_id=web_app["client_id"])["result"]
    assert [c["client_id"] for c in one] == [web_app["client_id"]]

    answer = _operation("consents.revoke", user_id="crm-42", client_id=web_app["client_id"])["result"]
    assert answer == {"user_id": "crm-42", "consents_revoked": 1, "grants_revoked": 1}
    assert _error(_refresh(http, web_app, first)) == "invalid_grant"
    assert _refresh(http, opaque_app, second).status_code == 200
    assert [c["client_id"] for c in _operation("consents.list", user_id="crm-42")["result"]] == [
        opaque_app["client_id"]
    ]
    assert _next_step(browser, web_app) == "consent"  # still signed in, asked again
    assert _next_step(browser, opaque_app) == "client"


def test_consents_revoke_without_a_client_forgets_every_client(http, web_app, opaque_app):
    browser = Browser(http)
    tokens = [_tokens(http, browser, app, "crm-42", remember=True) for app in (web_app, opaque_app)]
    answer = _operation("consents.revoke", user_id="crm-42")["result"]
    assert answer == {"user_id": "crm-42", "consents_revoked": 2, "grants_revoked": 2}
    assert _operation("consents.list", user_id="crm-42")["result"] == []
    for app, issued in zip((web_app, opaque_app), tokens, strict=True):
        assert _error(_refresh(http, app, issued)) == "invalid_grant"


# --- refresh re-checks the client ----------------------------------------------------------


def _update(client, **changes):
    metadata = {k: v for k, v in client.items() if k not in ("client_secret", "client_secret_expires_at")}
    answer = _operation("clients.update", **{**metadata, **changes})
    assert "result" in answer, answer


def test_refresh_narrows_to_the_scopes_the_client_is_still_registered_for(http, web_app):
    tokens = _tokens(http, Browser(http), web_app, "crm-42")
    _update(web_app, scope="openid offline_access")
    assert _error(_refresh(http, web_app, tokens, scope="profile")) == "invalid_scope"
    tokens = _tokens(http, Browser(http), web_app, "crm-43", scope="openid offline_access")
    _update(web_app, scope="offline_access")
    body = json.loads(_refresh(http, web_app, tokens).body)
    assert body["scope"] == "offline_access" and "id_token" not in body
    assert json.loads(_refresh(http, web_app, body).body)["scope"] == "offline_access"  # the grant stays narrowed


def test_refresh_is_refused_once_the_client_loses_the_grant_type_or_is_deleted(http, web_app):
    tokens = _tokens(http, Browser(http), web_app, "crm-42")
    _update(web_app, grant_types=["authorization_code"])
    assert _error(_refresh(http, web_app, tokens)) == "unauthorized_client"
    _update(web_app, grant_types=["authorization_code", "refresh_token"])
    tokens = _tokens(http, Browser(http), web_app, "crm-43")
    assert _operation("clients.delete", client_id=web_app["client_id"])["result"]["deleted"] is True
    assert _error(_refresh(http, web_app, tokens)) == "invalid_client"


# --- the command line ----------------------------------------------------------------------


def test_cli_person_commands_send_one_admin_event_each(capsys):
    events = []

    def invoke(event):
        events.append(event)
        return {"result": {}}

    commands = [
        ["users", "disable", "u-1"],
        ["users", "enable", "u-1"],
        ["users", "sign-out", "u-1"],
        ["consents", "list", "--user", "u-1"],
        ["consents", "revoke", "--user", "u-1", "--client", "c-1"],
    ]
    for argv in commands:
        assert cli.main(argv, invoke=invoke) == 0
    assert events == [
        {"operation": "users.disable", "params": {"user_id": "u-1"}},
        {"operation": "users.enable", "params": {"user_id": "u-1"}},
        {"operation": "users.sign_out", "params": {"user_id": "u-1"}},
        {"operation": "consents.list", "params": {"user_id": "u-1"}},
        {"operation": "consents.revoke", "params": {"user_id": "u-1", "client_id": "c-1"}},
    ]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["consents", "list"], invoke=invoke)  # --user is required
    assert len(events) == len(commands)
