"""Login session hygiene (OWASP Session Management Cheat Sheet, RFC 6265 §4.1.2, OIDC Core §3.1.2.1).

An idle timeout beside the absolute one; a new login ends the session it
replaces; ``remember_for`` bounded; ``subject`` from a login app validated;
``acr_values`` the session does not meet forces a login; the default login
page's ``Keep me signed in`` chooses between a browser-session cookie and a
persistent one.  Everything is driven over HTTP (Chalice's test client) and
through the interactions function, as a browser and a team's login app would.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import ISSUER
from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, pkce_pair, query_of

SESSION = "tollgate_session"


@pytest.fixture
def client(register):
    # skip_consent: a signed-in browser gets its code at once, so only the session decides.
    return register(grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope="openid", skip_consent=True)


@pytest.fixture
def interactions(aws) -> Any:
    """One event to the interactions function (a team's login app), as AWS would invoke it."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as chalice_client:
        yield (
            lambda operation, **params: (
                chalice_client.lambda_.invoke("interactions", {"operation": operation, "params": params}).payload
            )
        )


def settings_env(monkeypatch, **values: str) -> None:
    from chalicelib import services
    from chalicelib.config import settings

    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    services.reset()
    settings()  # read now: a request through Chalice's test client would read its stage's STAGE


def start(client, **params: str) -> str:
    _, challenge = pkce_pair()
    return authorize_url(
        client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256", **params
    )


def set_cookies(response) -> list[str]:
    value = response.headers.get("Set-Cookie") or []
    return [value] if isinstance(value, str) else list(value)


def session_cookie(response) -> str:
    (cookie,) = [c for c in set_cookies(response) if c.split("=", 1)[0].endswith(SESSION)]
    return cookie


def log_in(browser: Browser, client, subject: str = "user-1", **accept: Any):
    """Authorize, the login app accepts, back at /oauth2/auth: that last response."""
    from chalicelib import services

    location = browser.get(start(client, **accept.pop("request", {}))).headers["Location"]
    redirect_to = services.flows().accept_login(query_of(location)["login_challenge"], subject=subject, **accept)
    return browser.get(redirect_to)


def signed_in(browser: Browser, client, **params: str) -> bool:
    """Whether the browser's session answers an authorization at once (a code) rather than a login."""
    answer = query_of(browser.get(start(client, **params)).headers["Location"])
    assert "login_challenge" in answer or "code" in answer or "error" in answer, answer
    return "code" in answer


# --------------------------------------------------------------------------- idle timeout


@pytest.fixture
def idle_600(monkeypatch):
    settings_env(monkeypatch, SESSION_IDLE_TTL="600")


def test_a_session_unused_for_the_idle_timeout_signs_nobody_in(http, client, idle_600, frozen_clock):
    browser = Browser(http)
    log_in(browser, client, remember=True)
    assert signed_in(browser, client)
    frozen_clock[0] += 601
    assert not signed_in(browser, client)
    assert query_of(browser.get(start(client, prompt="none")).headers["Location"])["error"] == "login_required"


def test_a_session_in_use_outlives_the_idle_timeout_but_not_the_absolute_one(http, client, monkeypatch, frozen_clock):
    settings_env(monkeypatch, SESSION_IDLE_TTL="600", SESSION_TTL="1500")
    browser = Browser(http)
    log_in(browser, client, remember=True)
    for _ in range(3):  # used every 400 s: 1200 s in all, twice the idle timeout
        frozen_clock[0] += 400
        assert signed_in(browser, client)
    frozen_clock[0] += 301  # 1501 s after the sign-in: past SESSION_TTL however busy
    assert not signed_in(browser, client)


def test_a_busy_session_stamps_its_use_at_most_once_per_tenth_of_the_idle_timeout(
    http, client, idle_600, aws, frozen_clock
):
    browser = Browser(http)
    log_in(browser, client, remember=True)
    signed_in(browser, client)  # warm the client cache
    # Read the session + the person's sign-out marker, store the code; the stamp only every 60 s.
    answered_from_the_session = {"dynamodb.GetItem": 2, "dynamodb.PutItem": 1}
    for later, stamps in ((0, 0), (61, 1), (0, 0), (59, 0), (2, 1)):
        frozen_clock[0] += later
        aws.reset()
        assert signed_in(browser, client)
        expected = {**answered_from_the_session, "dynamodb.UpdateItem": stamps}
        assert aws.by_operation() == {operation: n for operation, n in expected.items() if n}, aws.calls


def test_stamping_a_session_never_brings_back_one_that_logout_ended(http, client, idle_600, frozen_clock):
    """The stamp is a conditional write: a request that read the session just before a logout cannot revive it."""
    from chalicelib import services
    from chalicelib.oauth.sessions import SESSION_KIND
    from chalicelib.tokens.hashing import digest

    browser = Browser(http)
    log_in(browser, client, remember=True)
    store, key = services.state_store(), digest(browser.cookies[SESSION])
    read = store.find(SESSION_KIND, key)  # what a request read just before the logout
    store.destroy(SESSION_KIND, key)
    assert store.swap(read, replace(read, expires_at=int(frozen_clock[0]) + 600)) is False
    assert store.find(SESSION_KIND, key) is None
    assert not signed_in(browser, client)


# --------------------------------------------------------------------------- a new login ends the old session


def test_a_new_login_in_the_same_browser_ends_the_session_it_replaces(http, client):
    browser = Browser(http)
    log_in(browser, client, remember=True)
    old = browser.cookies[SESSION]
    response = log_in(browser, client, subject="user-2", remember=True, request={"prompt": "login"})
    new = browser.cookies[SESSION]
    assert new != old and session_cookie(response).startswith(f"{SESSION}={new};")
    stolen = Browser(http, cookies={SESSION: old})  # whoever kept (or planted) the old value
    assert not signed_in(stolen, client)
    assert signed_in(browser, client)


def test_a_new_login_without_remember_ends_the_old_session_and_clears_its_cookie(http, client):
    browser = Browser(http)
    log_in(browser, client, remember=True)
    old = browser.cookies[SESSION]
    response = log_in(browser, client, subject="user-2", request={"prompt": "login"})
    assert session_cookie(response) == f"{SESSION}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    assert not signed_in(Browser(http, cookies={SESSION: old}), client)


def test_a_skipped_login_keeps_the_session(http, client, monkeypatch):
    from chalicelib import services

    monkeypatch.setenv("LOGIN_URL", "https://login.example.com/signin")
    services.reset()
    browser = Browser(http)
    log_in(browser, client, remember=True)
    old = browser.cookies[SESSION]
    response = log_in(browser, client)  # told skip: accepts the session's subject again
    assert "Set-Cookie" not in response.headers and browser.cookies[SESSION] == old
    assert "login_challenge" in query_of(browser.get(start(client)).headers["Location"])  # still asked, as before
    assert services.sessions().find(old) is not None


# --------------------------------------------------------------------------- remember_for


BAD_REMEMBER_FOR = [2592001, 10**12, -1, "3600", 1.5, True, None]


def login_challenge_for(http, client) -> tuple[Browser, str]:
    browser = Browser(http)
    return browser, query_of(browser.get(start(client)).headers["Location"])["login_challenge"]


@pytest.mark.parametrize("remember_for", BAD_REMEMBER_FOR)
def test_login_accept_refuses_a_remember_for_outside_0_to_30_days(http, client, interactions, remember_for):
    browser, challenge = login_challenge_for(http, client)
    answer = interactions(
        "login.accept", login_challenge=challenge, subject="crm-42", remember=True, remember_for=remember_for
    )
    assert answer["error"] == "invalid_request" and "remember_for" in answer["error_description"], answer
    accepted = interactions(
        "login.accept", login_challenge=challenge, subject="crm-42", remember=True, remember_for=2592000
    )
    cookie = session_cookie(browser.get(accepted["result"]["redirect_to"]))
    assert "; Max-Age=2592000;" in cookie  # the challenge stayed open; thirty days is allowed


def consent_challenge_for(http, register, interactions) -> str:
    asking = register(grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope="openid")
    browser, challenge = login_challenge_for(http, asking)
    accepted = interactions("login.accept", login_challenge=challenge, subject="crm-42")
    return query_of(browser.get(accepted["result"]["redirect_to"]).headers["Location"])["consent_challenge"]


@pytest.mark.parametrize("remember_for", BAD_REMEMBER_FOR)
def test_consent_accept_refuses_a_remember_for_outside_0_to_30_days(http, register, interactions, remember_for):
    challenge = consent_challenge_for(http, register, interactions)
    params = {"consent_challenge": challenge, "grant_scope": ["openid"], "remember": True}
    answer = interactions("consent.accept", **params, remember_for=remember_for)
    assert answer["error"] == "invalid_request" and "remember_for" in answer["error_description"], answer
    assert "result" in interactions("consent.accept", **params, remember_for=2592000)


def test_the_cli_reports_a_remember_for_over_30_days_on_stderr(http, client, capsys):
    from chalicelib import cli, headless

    _, challenge = login_challenge_for(http, client)
    capsys.readouterr()
    accept = json.dumps({"subject": "u-1", "remember": True, "remember_for": 31 * 86400})
    assert cli.main(["login", "accept", challenge, "--json", accept], invoke=headless.handle) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid_request: ") and "remember_for" in err


# --------------------------------------------------------------------------- subject from a login app


@pytest.mark.parametrize(
    "subject",
    ["", "a" * 256, "crm 42", "crm\t42", "crm-42\n", "\x00", "ünïcode", "crm\x7f42", "😀"],
)
def test_login_accept_refuses_a_subject_that_is_empty_too_long_or_not_printable_ascii(
    http, client, interactions, subject
):
    _, challenge = login_challenge_for(http, client)
    answer = interactions("login.accept", login_challenge=challenge, subject=subject)
    assert answer["error"] == "invalid_request" and "subject" in answer["error_description"], answer
    assert "result" in interactions("login.accept", login_challenge=challenge, subject="a" * 255)


def test_login_accept_refuses_a_subject_that_is_a_registered_client_id(http, client, register, interactions, aws):
    machine = register(grant_types=["client_credentials"], scope="a")
    _, challenge = login_challenge_for(http, client)
    answer = interactions("login.accept", login_challenge=challenge, subject=machine["client_id"])
    assert answer["error"] == "invalid_request" and "client_id" in answer["error_description"], answer
    aws.reset()
    assert "result" in interactions("login.accept", login_challenge=challenge, subject="crm-42")
    # Consume the challenge, store the verifier, and at most one read of the Clients table.
    assert aws.by_operation()["dynamodb.GetItem"] <= 1, aws.calls


# --------------------------------------------------------------------------- acr_values


def test_a_session_below_the_requested_acr_is_not_reused(http, client):
    browser = Browser(http)
    log_in(browser, client, remember=True, acr="urn:example:pwd")
    assert signed_in(browser, client, acr_values="urn:example:pwd urn:example:mfa")
    assert not signed_in(browser, client, acr_values="urn:example:mfa")
    answer = query_of(browser.get(start(client, acr_values="urn:example:mfa", prompt="none")).headers["Location"])
    assert answer["error"] == "login_required"


def test_a_custom_login_app_is_not_told_skip_when_the_session_misses_the_acr(http, client, interactions, monkeypatch):
    browser = Browser(http)
    log_in(browser, client, remember=True, acr="urn:example:pwd")
    settings_env(monkeypatch, LOGIN_URL="https://login.example.com/signin")
    location = browser.get(start(client, acr_values="urn:example:mfa")).headers["Location"]
    login = interactions("login.get", login_challenge=query_of(location)["login_challenge"])["result"]
    assert login["skip"] is False and login["subject"] == ""


# --------------------------------------------------------------------------- Keep me signed in


def test_headless_login_chooses_a_session_cookie_or_a_persistent_one(http, client, interactions):
    for persistent, expected in ((False, ""), (True, "Max-Age=3600; "), (None, "Max-Age=3600; ")):
        browser, challenge = login_challenge_for(http, client)
        params = {"login_challenge": challenge, "subject": "crm-42", "remember": True, "remember_for": 3600}
        if persistent is not None:
            params["persistent"] = persistent
        response = browser.get(interactions("login.accept", **params)["result"]["redirect_to"])
        value = browser.cookies[SESSION]
        assert session_cookie(response) == f"{SESSION}={value}; {expected}Path=/; HttpOnly; SameSite=Lax"


def test_headless_persistent_must_be_a_boolean(http, client, interactions):
    _, challenge = login_challenge_for(http, client)
    answer = interactions("login.accept", login_challenge=challenge, subject="crm-42", persistent="yes")
    assert answer == {"error": "invalid_request", "error_description": "'persistent' has the wrong type"}


@pytest.fixture
def alice(aws, monkeypatch):
    from chalicelib import admin
    from chalicelib.oauth import users

    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))
    answer = admin.handle({"operation": "users.create", "params": {"username": "alice", "password": "pw of alice"}})
    return answer["result"]


def login_page_sign_in(http, client, **fields: str):
    """Sign in as alice on the default login page, ``fields`` added to the form: the browser and the next response."""
    from tests.page_flow import _submit

    browser = Browser(http)
    login = browser.get(start(client)).headers["Location"]
    challenge = query_of(login)["login_challenge"]
    answer, _ = _submit(browser, login, login_challenge=challenge, username="alice", password="pw of alice", **fields)
    assert answer.status_code == 303, answer.body
    return browser, browser.get(answer.headers["Location"])


def test_the_login_page_offers_keep_me_signed_in_unchecked(http, client):
    location = Browser(http).get(start(client)).headers["Location"]
    body = http.get(location.removeprefix(ISSUER)).body.decode()
    assert '<input type="checkbox" id="remember" name="remember" value="yes">' in body
    assert '<label for="remember">Keep me signed in</label>' in body


def test_signing_in_without_keep_me_signed_in_sets_a_browser_session_cookie(http, client, alice):
    browser, response = login_page_sign_in(http, client)
    value = browser.cookies[SESSION]
    assert session_cookie(response) == f"{SESSION}={value}; Path=/; HttpOnly; SameSite=Lax"  # no Max-Age nor Expires
    assert signed_in(browser, client)  # single sign-on until the browser closes


def test_keep_me_signed_in_sets_a_persistent_cookie_for_the_session_lifetime(http, client, alice):
    browser, response = login_page_sign_in(http, client, remember="yes")
    value = browser.cookies[SESSION]
    assert session_cookie(response) == f"{SESSION}={value}; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax"


def test_the_session_cookie_on_a_secure_stage_is_host_prefixed_and_secure(http, client, alice, monkeypatch):
    settings_env(monkeypatch, STAGE="dev")
    browser, response = login_page_sign_in(http, client)
    value = browser.cookies[f"__Host-{SESSION}"]
    assert session_cookie(response) == f"__Host-{SESSION}={value}; Path=/; HttpOnly; SameSite=Lax; Secure"
