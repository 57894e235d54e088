"""The headless contract: a team's own login/consent app answers challenges through the interactions function.

Each test invokes the deployed shape: the app's ``interactions`` Lambda (its
handler and middleware), which offers the challenge operations and nothing
else; the admin function no longer answers them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, exchange, pkce_pair, query_of


@pytest.fixture
def client(register):
    return register(
        grant_types=["authorization_code"],
        redirect_uris=[REDIRECT_URI],
        scope="openid profile",
        audience=["https://api.example.com"],
    )


@pytest.fixture
def lambdas(aws) -> Iterator[Any]:
    """The app's pure Lambda functions, invoked as AWS would (``lambda_.invoke(name, event)``)."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as client:
        yield client.lambda_


@pytest.fixture
def handle(lambdas):
    """One event to the interactions function; its answer."""
    return lambda event: lambdas.invoke("interactions", event).payload


@pytest.fixture
def admin(handle):
    """A challenge operation the login app calls; its result (asserting it succeeded)."""

    def call(operation, **params):
        answer = handle({"operation": operation, "params": params})
        assert "result" in answer, answer
        return answer["result"]

    return call


def test_custom_login_app_signs_a_person_in_with_hydras_operations(http, client, admin):
    browser = Browser(http)
    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"],
        scope="openid profile",
        audience="https://api.example.com",
        code_challenge=challenge,
        code_challenge_method="S256",
        nonce="n",
    )
    login_challenge = query_of(browser.get(url).headers["Location"])["login_challenge"]
    login = admin("login.get", login_challenge=login_challenge)
    assert login["client"]["client_id"] == client["client_id"] and login["requested_scope"] == ["openid", "profile"]
    assert login["skip"] is False and "client_secret_hash" not in json.dumps(login)
    accepted = admin(
        "login.accept",
        login_challenge=login_challenge,
        subject="crm-42",
        remember=True,
        remember_for=3600,
        acr="urn:example:mfa",
        amr=["pwd", "otp"],
    )
    consent_challenge = query_of(browser.get(accepted["redirect_to"]).headers["Location"])["consent_challenge"]
    consent = admin("consent.get", consent_challenge=consent_challenge)
    assert consent["subject"] == "crm-42" and consent["requested_access_token_audience"] == ["https://api.example.com"]
    allowed = admin(
        "consent.accept",
        consent_challenge=consent_challenge,
        grant_scope=["openid", "profile"],
        grant_access_token_audience=["https://api.example.com"],
        session={"access_token": {"tier": "gold"}, "id_token": {"department": "research"}},
    )
    code = query_of(browser.get(allowed["redirect_to"]).headers["Location"])["code"]
    body = json.loads(exchange(http, client, code, verifier).body)
    id_token = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_token["sub"] == "crm-42" and id_token["department"] == "research"
    assert id_token["acr"] == "urn:example:mfa" and id_token["amr"] == ["pwd", "otp"]
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["tier"] == "gold" and access["aud"] == ["https://api.example.com", "http://127.0.0.1:8000"]


def test_reject_through_the_interactions_function_redirects_access_denied(http, client, admin):
    browser = Browser(http)
    _, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    login_challenge = query_of(browser.get(url).headers["Location"])["login_challenge"]
    rejected = admin("login.reject", login_challenge=login_challenge, error_description="no such account")
    answer = query_of(browser.get(rejected["redirect_to"]).headers["Location"])
    assert answer["error"] == "access_denied" and answer["error_description"] == "no such account"


@pytest.mark.parametrize(
    "params",
    [
        {"login_challenge": "nope", "subject": "x"},
        {"login_challenge": "x", "subject": 7},
        {"login_challenge": "x", "subject": "u", "unexpected": 1},
    ],
)
def test_bad_challenge_input_is_an_error_object_never_an_exception(handle, params):
    answer = handle({"operation": "login.accept", "params": params})
    assert answer["error"] in {"not_found", "invalid_request"}


def test_cli_answers_challenges(http, client, capsys):
    from chalicelib import cli, headless

    browser = Browser(http)
    _, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    login_challenge = query_of(browser.get(url).headers["Location"])["login_challenge"]
    capsys.readouterr()  # the server's own log lines so far
    status = cli.main(["login", "accept", login_challenge, "--json", '{"subject": "u-1"}'], invoke=headless.handle)
    assert status == 0
    assert json.loads(capsys.readouterr().out)["redirect_to"].startswith("http://127.0.0.1:8000/oauth2/auth?")


def test_custom_device_app_accepts_the_typed_user_code(http, register, monkeypatch, handle, admin):
    from chalicelib import services

    monkeypatch.setenv("DEVICE_URL", "https://devices.example.com/link")
    services.reset()
    tv = register(
        grant_types=["urn:ietf:params:oauth:grant-type:device_code"], scope="openid", token_endpoint_auth_method="none"
    )
    from urllib.parse import urlencode

    body = json.loads(
        http.post(
            "/oauth2/device/auth",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode({"client_id": tv["client_id"]}),
        ).body
    )
    browser = Browser(http)
    response = browser.get("http://127.0.0.1:8000/oauth2/device/verify")
    assert response.headers["Location"].startswith("https://devices.example.com/link?device_challenge=")
    device_challenge = query_of(response.headers["Location"])["device_challenge"]
    assert admin("device.get", device_challenge=device_challenge)["challenge"] == device_challenge
    wrong = handle(
        {"operation": "device.accept", "params": {"device_challenge": device_challenge, "user_code": "BBBB-BBBB"}}
    )
    assert wrong["error"] == "invalid_request"
    accepted = admin("device.accept", device_challenge=device_challenge, user_code=body["user_code"].lower())
    assert "login_challenge=" in browser.get(accepted["redirect_to"]).headers["Location"]


def consent_for(admin, browser, client, **params):
    """Authorize (no audience unless given), sign in as ``crm-42``: the consent request the app receives."""
    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256", **params
    )
    login_challenge = query_of(browser.get(url).headers["Location"])["login_challenge"]
    accepted = admin("login.accept", login_challenge=login_challenge, subject="crm-42")
    consent_challenge = query_of(browser.get(accepted["redirect_to"]).headers["Location"])["consent_challenge"]
    return verifier, admin("consent.get", consent_challenge=consent_challenge)


def test_consent_app_is_shown_the_registered_audience_when_none_was_requested(http, client, admin):
    _, consent = consent_for(admin, Browser(http), client)
    assert consent["requested_access_token_audience"] == ["https://api.example.com"]


def test_consent_granting_no_audience_gives_a_token_only_for_the_client_itself_and_userinfo(http, client, admin):
    from tests.oauth_flow import introspect

    browser = Browser(http)
    verifier, consent = consent_for(admin, browser, client)
    allowed = admin(
        "consent.accept", consent_challenge=consent["challenge"], grant_scope=["openid"], grant_access_token_audience=[]
    )
    code = query_of(browser.get(allowed["redirect_to"]).headers["Location"])["code"]
    access_token = json.loads(exchange(http, client, code, verifier).body)["access_token"]
    # scope openid: the issuer (its UserInfo endpoint) is the token's other audience.
    audience = [client["client_id"], "http://127.0.0.1:8000"]
    assert jwt.decode(access_token, options={"verify_signature": False})["aud"] == audience
    assert introspect(http, client, access_token)["aud"] == audience


# --------------------------------------------------------------------------- one function per job


def test_admin_function_no_longer_answers_challenges(http, client, lambdas):
    browser = Browser(http)
    _, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    login_challenge = query_of(browser.get(url).headers["Location"])["login_challenge"]
    event = {"operation": "login.accept", "params": {"login_challenge": login_challenge, "subject": "u-1"}}
    answer = lambdas.invoke("admin", event).payload
    assert answer["error"] == "invalid_request" and "unknown operation 'login.accept'" in answer["error_description"]
    assert "result" in lambdas.invoke("interactions", event).payload  # the challenge was still open


@pytest.mark.parametrize(
    "operation, params",
    [
        ("clients.create", {"redirect_uris": ["https://attacker.example/cb"]}),
        ("clients.update", {"client_id": "c1", "redirect_uris": ["https://attacker.example/cb"]}),
        ("clients.list", {}),
        ("users.create", {"username": "eve", "password": "pw-0123456789abc"}),
        ("keys.rotate", {}),
    ],
)
def test_interactions_function_refuses_every_administrative_operation(lambdas, operation, params):
    answer = lambdas.invoke("interactions", {"operation": operation, "params": params}).payload
    assert answer["error"] == "invalid_request" and f"unknown operation '{operation}'" in answer["error_description"]
    listed = lambdas.invoke("admin", {"operation": "clients.list"}).payload["result"]
    assert listed == []  # nothing was registered through the login app's function


def test_a_challenge_never_starts_with_a_dash_so_the_cli_reads_it_as_an_argument(monkeypatch):
    from chalicelib.oauth import flows

    drawn = iter(["-starts-like-an-option" + "x" * 21, "A" * 43])
    monkeypatch.setattr(flows.secrets, "token_urlsafe", lambda _: next(drawn))
    assert flows.new_challenge() == "A" * 43


# --------------------------------------------------------------------------- claims a consent app may not set


@pytest.mark.parametrize("token", ["id_token", "access_token"])
@pytest.mark.parametrize("claim", ["sub", "aud", "scope", "email_verified"])
def test_consent_app_cannot_set_a_claim_only_tollgate_sets(http, client, admin, handle, token, claim):
    _, consent = consent_for(admin, Browser(http), client)
    params = {"consent_challenge": consent["challenge"], "grant_scope": ["openid"], "session": {token: {claim: True}}}
    answer = handle({"operation": "consent.accept", "params": params})
    assert answer["error"] == "invalid_request" and claim in answer["error_description"]
    assert admin("consent.get", consent_challenge=consent["challenge"])  # refused before the challenge was used


def test_custom_claims_still_arrive_beside_the_reserved_ones(http, client, admin):
    browser = Browser(http)
    verifier, consent = consent_for(admin, browser, client)
    allowed = admin(
        "consent.accept",
        consent_challenge=consent["challenge"],
        grant_scope=["openid"],
        session={"access_token": {"tier": "gold"}, "id_token": {"department": "research"}},
    )
    code = query_of(browser.get(allowed["redirect_to"]).headers["Location"])["code"]
    body = json.loads(exchange(http, client, code, verifier).body)
    assert jwt.decode(body["id_token"], options={"verify_signature": False})["department"] == "research"
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["tier"] == "gold"


def test_a_consent_remembered_before_the_rule_cannot_smuggle_reserved_claims(http, client, admin):
    """A consent remembered with reserved claims (before they were refused) is filtered when tokens are issued."""
    from chalicelib import services
    from chalicelib.oauth.models.interaction import Consent

    forged = {"sub": "admin", "email_verified": True, "scope": "admin", "cnf": {"jkt": "x"}, "tier": "gold"}
    services.sessions().remember_consent(
        "crm-42",
        client["client_id"],
        Consent(
            grant_scope=("openid",),
            grant_access_token_audience=("https://api.example.com",),
            access_token_claims=forged,
            id_token_claims=forged,
        ),
    )
    browser = Browser(http)
    verifier, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    login_challenge = query_of(browser.get(url).headers["Location"])["login_challenge"]
    accepted = admin("login.accept", login_challenge=login_challenge, subject="crm-42")
    code = query_of(browser.get(accepted["redirect_to"]).headers["Location"])["code"]
    body = json.loads(exchange(http, client, code, verifier).body)
    for token in (body["id_token"], body["access_token"]):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["sub"] == "crm-42" and claims["tier"] == "gold"
        assert "email_verified" not in claims and "cnf" not in claims and claims.get("scope", "openid") == "openid"


# --------------------------------------------------------------------------- what the login app is told, and told back

CUSTOM_LOGIN_URL = "https://login.example.com/signin"


@pytest.fixture
def custom_login(monkeypatch):
    """LOGIN_URL points at a team's own login app."""
    from chalicelib import services

    monkeypatch.setenv("LOGIN_URL", CUSTOM_LOGIN_URL)
    services.reset()
    yield
    services.reset()


def start_login(browser, client, **params):
    """Authorize: the PKCE verifier and where the browser is sent (the login app, or on if its session answered)."""
    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256", **params
    )
    return verifier, browser.get(url).headers["Location"]


def id_token_after_login(http, browser, client, admin, verifier, login_challenge, **accept):
    """login.accept, consent, code exchange: the ID token's claims."""
    accepted = admin("login.accept", login_challenge=login_challenge, **accept)
    location = browser.get(accepted["redirect_to"]).headers["Location"]
    allowed = admin("consent.accept", consent_challenge=query_of(location)["consent_challenge"], grant_scope=["openid"])
    code = query_of(browser.get(allowed["redirect_to"]).headers["Location"])["code"]
    body = json.loads(exchange(http, client, code, verifier).body)
    return jwt.decode(body["id_token"], options={"verify_signature": False})


def test_login_request_carries_prompt_max_age_and_the_oidc_context(http, client, admin):
    _, location = start_login(
        Browser(http),
        client,
        prompt="login",
        max_age="300",
        acr_values="urn:example:mfa urn:example:pwd",
        login_hint="ada@example.com",
        ui_locales="de en",
        state="st-1",
        nonce="n-1",
    )
    login = admin("login.get", login_challenge=query_of(location)["login_challenge"])
    assert login["oidc_context"] == {
        "acr_values": ["urn:example:mfa", "urn:example:pwd"],
        "login_hint": "ada@example.com",
        "ui_locales": ["de", "en"],
    }
    assert login["request_url"].startswith("http://127.0.0.1:8000/oauth2/auth?")
    original = query_of(login["request_url"])
    assert original["prompt"] == "login" and original["max_age"] == "300" and original["state"] == "st-1"
    assert original["redirect_uri"] == REDIRECT_URI and original["nonce"] == "n-1" and original["scope"] == "openid"
    assert login["skip"] is False and login["subject"] == ""


def test_login_accept_records_the_real_auth_time(http, client, admin):
    browser = Browser(http)
    verifier, location = start_login(browser, client)
    signed_in_at = int(time.time()) - 600  # the person signed in to the login app ten minutes ago
    claims = id_token_after_login(
        http,
        browser,
        client,
        admin,
        verifier,
        query_of(location)["login_challenge"],
        subject="crm-42",
        auth_time=signed_in_at,
    )
    assert claims["auth_time"] == signed_in_at


@pytest.mark.parametrize(
    ("params", "age"),
    [
        ({}, -120),  # in the future
        ({"prompt": "login"}, 30),  # a session from before the request, though prompt=login asked for a fresh login
        ({"max_age": "0"}, 30),
        ({"max_age": "60"}, 600),
    ],
)
def test_an_auth_time_the_request_does_not_allow_is_refused_and_the_challenge_stays_open(
    http, client, admin, handle, params, age
):
    _, location = start_login(Browser(http), client, **params)
    login_challenge = query_of(location)["login_challenge"]
    claimed = {"login_challenge": login_challenge, "subject": "crm-42", "auth_time": int(time.time()) - age}
    answer = handle({"operation": "login.accept", "params": claimed})
    description = answer["error_description"]
    assert answer["error"] == "invalid_request" and "auth_time" in description and "unexpected" not in description
    assert admin("login.accept", login_challenge=login_challenge, subject="crm-42")["redirect_to"]


@pytest.mark.parametrize("auth_time", ["1700000000", True, 1.5, 0])
def test_a_malformed_auth_time_is_invalid_request(http, client, handle, auth_time):
    _, location = start_login(Browser(http), client)
    params = {"login_challenge": query_of(location)["login_challenge"], "subject": "crm-42", "auth_time": auth_time}
    answer = handle({"operation": "login.accept", "params": params})
    assert answer["error"] == "invalid_request" and "unexpected" not in answer["error_description"]


def test_max_age_accepts_a_login_within_it(http, client, admin):
    browser = Browser(http)
    verifier, location = start_login(browser, client, max_age="3600")
    signed_in_at = int(time.time()) - 600
    claims = id_token_after_login(
        http,
        browser,
        client,
        admin,
        verifier,
        query_of(location)["login_challenge"],
        subject="crm-42",
        auth_time=signed_in_at,
    )
    assert claims["auth_time"] == signed_in_at


def test_custom_login_app_is_told_skip_with_the_session_subject_and_must_keep_it(
    http, client, admin, handle, custom_login
):
    browser = Browser(http)
    verifier, location = start_login(browser, client)
    assert location.startswith(CUSTOM_LOGIN_URL)
    first = id_token_after_login(
        http, browser, client, admin, verifier, query_of(location)["login_challenge"], subject="crm-42", remember=True
    )
    # Second sign-in in the same browser: Tollgate's session would do, and the login app is told so (Hydra's skip).
    verifier, location = start_login(browser, client)
    login_challenge = query_of(location)["login_challenge"]
    login = admin("login.get", login_challenge=login_challenge)
    assert login["skip"] is True and login["subject"] == "crm-42"
    other = {"login_challenge": login_challenge, "subject": "someone-else"}
    assert handle({"operation": "login.accept", "params": other})["error"] == "invalid_request"
    again = id_token_after_login(http, browser, client, admin, verifier, login_challenge, subject="crm-42")
    assert again["auth_time"] == first["auth_time"] and again["sid"] == first["sid"]  # no new login happened
    # prompt=login: the session may not be used, so no skip.
    _, location = start_login(browser, client, prompt="login")
    login = admin("login.get", login_challenge=query_of(location)["login_challenge"])
    assert login["skip"] is False and login["subject"] == ""


def test_prompt_none_with_a_session_never_visits_a_custom_login_app(http, client, admin, custom_login):
    browser = Browser(http)
    verifier, location = start_login(browser, client)
    id_token_after_login(
        http, browser, client, admin, verifier, query_of(location)["login_challenge"], subject="crm-42", remember=True
    )
    _, location = start_login(browser, client, prompt="none")
    assert query_of(location)["error"] == "consent_required"  # answered from the session, no login UI


def test_tollgate_login_page_behind_another_url_accepts_a_skippable_login_without_asking(
    http, client, admin, monkeypatch
):
    """The default page's skip branch: under a LOGIN_URL other than the issuer's own, it is asked like any app."""
    from chalicelib import services

    monkeypatch.setenv("LOGIN_URL", "http://127.0.0.1:8000/ui/login?brand=acme")
    services.reset()
    browser = Browser(http)
    verifier, location = start_login(browser, client)
    first = id_token_after_login(
        http, browser, client, admin, verifier, query_of(location)["login_challenge"], subject="crm-42", remember=True
    )
    _, location = start_login(browser, client)
    assert location.startswith("http://127.0.0.1:8000/ui/login?brand=acme&login_challenge=")
    page = browser.get(location)
    assert page.status_code == 303 and "login_verifier=" in page.headers["Location"]  # no form shown
    consent_challenge = query_of(browser.get(page.headers["Location"]).headers["Location"])["consent_challenge"]
    assert admin("consent.get", consent_challenge=consent_challenge)["subject"] == first["sub"]
    services.reset()
