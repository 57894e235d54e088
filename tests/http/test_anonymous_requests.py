"""Nothing is stored for an anonymous request until it is worth it (issue 10 item 1).

``GET /oauth2/auth`` and ``GET /oauth2/device/verify`` need no session, so
anyone can send them by the million.  Junk (an unknown client, a bad
redirect_uri, an overlong, repeated or control-character parameter, a
device prefill that cannot be a user code) must cost no DynamoDB write;
writes are counted through botocore's ``before-call`` hooks, as
tests/http/test_call_counts.py counts calls.  A valid anonymous visit to
Tollgate's own login or device page writes nothing either (its challenge is
sealed), no number of hops grows the Cookie header without bound, and a
``login_hint`` never reaches the state table in clear (issue 10 item 12).
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import pytest

from tests.conftest import ISSUER
from tests.oauth_flow import REDIRECT_URI, Browser, pkce_pair, query_of

WRITES = frozenset(
    {
        "dynamodb.PutItem",
        "dynamodb.UpdateItem",
        "dynamodb.DeleteItem",
        "dynamodb.TransactWriteItems",
        "dynamodb.BatchWriteItem",
    }
)


def writes(aws) -> list[str]:
    return [call for call in aws.calls if call in WRITES]


@pytest.fixture
def web_app(register):
    return register(
        client_name="Web app",
        grant_types=["authorization_code"],
        redirect_uris=[REDIRECT_URI],
        scope="openid profile",
    )


def valid_query(client, **params: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "client_id": client["client_id"],
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }


JUNK = {
    "unknown client": {"client_id": "nobody"},
    "unregistered redirect_uri": {"redirect_uri": "https://evil.example.com/cb"},
    "bad response_type": {"response_type": "token"},
    "unknown prompt": {"prompt": "whenever"},
    "state of 513 bytes": {"state": "s" * 513},
    "nonce of 513 bytes": {"nonce": "n" * 513},
    "login_hint of 257 bytes": {"login_hint": "h" * 257},
    "scope of 2049 bytes": {"scope": "openid" + " x" * 1022},  # 2050 bytes
    "acr_values of 4 KB": {"acr_values": "urn:acr " * 512},
    "ui_locales of 4 KB": {"ui_locales": "en " * 1365},
    "claims of 8 KB": {"claims": "{" + "x" * 8192 + "}"},
    "control characters in state": {"state": "\x01" * 100},
    "control characters in nonce": {"nonce": "n\x00n"},
    "control characters in login_hint": {"login_hint": "alice\r\nSet-Cookie: x=y"},
    "control characters in acr_values": {"acr_values": "\x7f"},
}


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_a_junk_authorization_request_writes_nothing_and_is_refused(http, web_app, aws, junk):
    browser = Browser(http)
    browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app))}")  # warm: client and pepper
    aws.reset()
    response = browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app, **junk))}")
    assert writes(aws) == [], aws.calls
    if response.status_code == 302:  # the client and redirect_uri are genuine: the error goes back to it
        answer = query_of(response.headers["Location"])
        assert response.headers["Location"].startswith(REDIRECT_URI)
        assert answer["error"] in ("invalid_request", "unsupported_response_type"), answer
        assert "state" not in answer or answer["state"] == "st"  # a refused state is never echoed
    else:
        assert response.status_code == 400 and "Location" not in response.headers


def test_a_repeated_parameter_writes_nothing(http, web_app, aws):
    query = urlencode(valid_query(web_app)) + "&state=again"
    aws.reset()
    response = Browser(http).get(f"{ISSUER}/oauth2/auth?{query}")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    assert writes(aws) == [], aws.calls


def test_a_control_character_in_state_is_refused_never_echoed(http, web_app):
    response = Browser(http).get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app, state='a' + chr(1)))}")
    answer = query_of(response.headers["Location"])
    assert answer["error"] == "invalid_request" and "control character" in answer["error_description"]
    assert "state" not in answer


# -- the device verification page ----------------------------------------------------------


def verify_page(http, **query: str):
    return Browser(http).get(f"{ISSUER}/oauth2/device/verify?{urlencode(query)}")


def prefilled(response) -> str:
    match = re.search(r'name="user_code"[^>]*value="([^"]*)"', response.body.decode())
    return unescape(match.group(1)) if match else ""


JUNK_PREFILL = {
    "4 KB": "B" * 4096,
    "control characters": "\x01\x01",
}


@pytest.mark.parametrize("user_code", JUNK_PREFILL.values(), ids=JUNK_PREFILL.keys())
def test_a_junk_device_prefill_writes_nothing(http, aws, user_code):
    verify_page(http)  # warm
    aws.reset()
    response = verify_page(http, user_code=user_code)
    assert response.status_code == 400 and "invalid_request" in response.body.decode()
    assert writes(aws) == [], aws.calls


@pytest.mark.parametrize("user_code", ["hello world", "BCDF-GHJ", "AEIO-UAEI", "BCDF-GHJKL"])
def test_a_prefill_that_cannot_be_a_user_code_shows_an_empty_field_and_is_not_kept(http, user_code):
    from chalicelib import services

    response = verify_page(http, user_code=user_code)
    assert response.status_code == 200 and prefilled(response) == ""
    challenge = re.search(r'name="device_challenge" value="([^"]*)"', response.body.decode()).group(1)
    assert services.flows().device_request(unescape(challenge))["user_code"] == ""


@pytest.mark.parametrize("user_code", ["BCDF-GHJK", "bcdf ghjk", "bcdfghjk"])
def test_a_prefill_that_can_be_a_user_code_is_shown_normalised(http, user_code):
    response = verify_page(http, user_code=user_code)
    assert response.status_code == 200 and prefilled(response) == "BCDF-GHJK"


# -- flow cookies: each hop sets one, the browser keeps a bounded number ----------------------

FLOW_COOKIE_BOUND = 600  # bytes of Cookie header: a handful of sign-ins in progress, never one per hop


def cookie_header(browser: Browser) -> str:
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def login_challenge_of(response) -> str:
    assert response.status_code == 302, response.body
    return query_of(response.headers["Location"])["login_challenge"]


def test_twenty_authorization_hops_never_grow_the_cookie_header_past_a_bound(http, web_app):
    from chalicelib import services

    browser = Browser(http)
    challenges = []
    for _ in range(20):
        challenges.append(login_challenge_of(browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app))}")))
        assert len(cookie_header(browser)) <= FLOW_COOKIE_BOUND, cookie_header(browser)
    # The sign-ins of the latest hops (several tabs) still finish; the oldest one was dropped.
    for challenge in challenges[-3:]:
        redirect_to = services.flows().accept_login(challenge, subject="u")
        assert "consent_challenge=" in browser.get(redirect_to).headers["Location"]
    redirect_to = services.flows().accept_login(challenges[0], subject="u")
    assert browser.get(redirect_to).status_code == 403


def test_twenty_device_page_hops_never_grow_the_cookie_header_past_a_bound(http):
    browser = Browser(http)
    for _ in range(20):
        assert browser.get(f"{ISSUER}/oauth2/device/verify").status_code == 200
        flow_cookies = {k: v for k, v in browser.cookies.items() if "flow" in k}
        assert len("; ".join(f"{k}={v}" for k, v in flow_cookies.items())) <= FLOW_COOKIE_BOUND


def test_on_a_secure_stage_the_oldest_host_prefixed_flow_cookies_are_the_ones_expired():
    from chalicelib.oauth.flow_cookies import MAX_FLOWS, FlowCookies
    from chalicelib.oauth.http import CookiePolicy
    from chalicelib.oauth.request import Params, Request

    cookies = FlowCookies(CookiePolicy.for_issuer("https://auth.example.com", secure=True), max_age=600)
    # Sent newest first: the order a browser sends them in must not decide which go.
    held = [f"__Host-tollgate_flow_{n:016x}={1700000000 + n}.secret{n}" for n in range(MAX_FLOWS + 1, 0, -1)]
    request = Request("GET", "/oauth2/auth", {"cookie": "; ".join(["__Host-tollgate_csrf=x", *held])}, Params({}))
    new, *expired = cookies.start(request).cookies
    assert new.startswith("__Host-tollgate_flow_") and "Path=/;" in new and "Secure" in new
    assert [line.split("=", 1)[0] for line in expired] == [f"__Host-tollgate_flow_{n:016x}" for n in (1, 2)]
    assert all("Max-Age=0" in line and "Path=/;" in line for line in expired)


# -- login_hint is never stored in clear ----------------------------------------------------

HINT = "alice@example.com"


def state_table_text() -> str:
    """Every item of the state table, as DynamoDB returns it."""
    import json

    import boto3

    from chalicelib.config import settings

    items = boto3.client("dynamodb").scan(TableName=settings().state_table)["Items"]
    assert items  # the scan sees what was written
    return json.dumps(items)


def hint_stored(text: str) -> bool:
    return HINT in text or "alice" in text.lower()


@pytest.fixture
def hinted_login(http, web_app):
    """An authorization request with login_hint (and an unrelated write, so the table is never empty)."""
    from chalicelib import services

    services.state_store().increment("marker", "m", create_until=2**31)
    browser = Browser(http)
    response = browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app, login_hint=HINT))}")
    return browser, login_challenge_of(response)


def test_login_hint_prefills_the_login_page_but_is_never_stored_in_clear(http, hinted_login):
    from chalicelib import services

    browser, challenge = hinted_login
    assert not hint_stored(state_table_text())
    page = browser.get(f"{ISSUER}/ui/login?{urlencode({'login_challenge': challenge})}")
    assert re.search(rf'name="username"[^>]*value="{re.escape(HINT)}"', page.body.decode())
    # ... nor at any later step of the flow: verifier, consent challenge and verifier, code.
    redirect_to = services.flows().accept_login(challenge, subject="u")
    consent = query_of(browser.get(redirect_to).headers["Location"])["consent_challenge"]
    assert services.flows().consent_request(consent).oidc_context["login_hint"] == HINT
    redirect_to = services.flows().accept_consent(consent, grant_scope=["openid"])
    assert "code" in query_of(browser.get(redirect_to).headers["Location"])
    assert not hint_stored(state_table_text())


@pytest.fixture
def custom_login(monkeypatch):
    from chalicelib import services

    monkeypatch.setenv("LOGIN_URL", "https://login.example.com/signin")
    services.reset()
    yield
    services.reset()


@pytest.mark.usefixtures("custom_login")
def test_a_custom_login_app_still_gets_the_login_hint_which_is_stored_encrypted(http, hinted_login):
    from chalicelib import services

    _, challenge = hinted_login
    assert not hint_stored(state_table_text())
    assert services.flows().login_request(challenge).oidc_context["login_hint"] == HINT
    assert query_of(services.flows().login_request(challenge).request_url)["login_hint"] == HINT


# -- the headline: an anonymous visit to Tollgate's own login page writes nothing ------------

PASSWORD = "carol's password"


@pytest.fixture
def carol(aws, monkeypatch):
    from chalicelib import admin
    from chalicelib.oauth import users

    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))
    return admin.handle({"operation": "users.create", "params": {"username": "carol", "password": PASSWORD}})


def hidden_field(body, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', body.decode() if isinstance(body, bytes) else body)
    assert match, f"no hidden field {name}"
    return unescape(match.group(1))


def open_login(browser: Browser, challenge: str):
    return browser.get(f"{ISSUER}/ui/login?{urlencode({'login_challenge': challenge})}")


def submit_login(browser: Browser, challenge: str, page, password: str = PASSWORD):
    fields = {
        "login_challenge": challenge,
        "username": "carol",
        "password": password,
        "csrf_token": hidden_field(page.body, "csrf_token"),
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie_header(browser)}
    return browser.http.post("/ui/login", headers=headers, body=urlencode(fields))


def test_an_anonymous_authorization_request_and_the_login_page_write_nothing(http, web_app, aws, carol):
    browser = Browser(http)
    browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app))}")  # warm: client and pepper
    aws.reset()
    challenge = login_challenge_of(browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app))}"))
    assert aws.calls == []  # was one PutItem (the login challenge)
    page = open_login(browser, challenge)
    assert page.status_code == 200 and 'name="password"' in page.body.decode()
    # One read and no write (was one GetItem of the stored challenge): the sealed challenge's state item,
    # absent until a password is posted, read so that a challenge made void by 10 attempts (issue 10
    # item 2, test_login_cost.py) or already answered shows its page, not a form.
    assert aws.calls == ["dynamodb.GetItem"]
    # Signing in writes the flow (the login verifier), and the sign-in goes on as before.
    answer = submit_login(browser, challenge, page)
    assert answer.status_code == 303, answer.body
    assert "dynamodb.TransactWriteItems" in aws.calls
    assert "consent_challenge=" in browser.get(answer.headers["Location"]).headers["Location"]


def test_a_wrong_password_on_a_sealed_challenge_keeps_the_sign_in_open(http, web_app, carol):
    browser = Browser(http)
    challenge = login_challenge_of(browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app))}"))
    page = open_login(browser, challenge)
    again = submit_login(browser, challenge, page, password="wrong")
    assert again.status_code == 200 and "Wrong username or password." in again.body.decode()
    assert submit_login(browser, challenge, again).status_code == 303
    # Posting the form once more is the used-challenge page, not a second sign-in.
    assert submit_login(browser, challenge, again).status_code == 404


def flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def unknown_challenge_page(http) -> str:
    response = http.get("/ui/login?login_challenge=nope")
    assert response.status_code == 404
    return response.body.decode()


class OtherPepper:
    def pepper(self) -> bytes:
        return b"another deployment's pepper"


def test_a_tampered_expired_or_foreign_sealed_challenge_gets_the_unknown_challenge_page(http, web_app, frozen_clock):
    from chalicelib import services
    from chalicelib.oauth.errors import NotFound
    from chalicelib.oauth.flows import Flows
    from tests.http.test_ui_pages import new_flow

    expected = unknown_challenge_page(http)
    browser = Browser(http)
    challenge = login_challenge_of(browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app))}"))
    tampered = [flip(challenge, at) for at in (3, len(challenge) // 2, len(challenge) - 1)]
    tampered += [challenge[:-4], challenge + "AAAA", challenge.replace(".", "", 1), "s." + "A" * 200]
    for value in tampered:
        response = http.get(f"/ui/login?{urlencode({'login_challenge': value})}")
        assert (response.status_code, response.body.decode()) == (404, expected), value
        with pytest.raises(NotFound):
            services.flows().accept_login(value, subject="u")
    # Foreign: sealed by another deployment (another pepper), or sealed here for another purpose.
    flows = services.flows()
    flow = new_flow(web_app, scope=("openid",), audience=())
    elsewhere = Flows(
        services.state_store(), services.client_repository(), OtherPepper(), issuer=ISSUER, challenge_ttl=600
    )
    foreign = [elsewhere.request_login(flow, sealed=True), "s." + flows.seal_login_hint("carol")]
    for value in foreign:
        response = http.get(f"/ui/login?{urlencode({'login_challenge': value})}")
        assert (response.status_code, response.body.decode()) == (404, expected), value
    # Expired: CHALLENGE_TTL after the request (and not yet answered).
    fresh = login_challenge_of(browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(web_app))}"))
    assert http.get(f"/ui/login?{urlencode({'login_challenge': fresh})}").status_code == 200
    frozen_clock[0] += services.flows().challenge_ttl + 1
    response = http.get(f"/ui/login?{urlencode({'login_challenge': fresh})}")
    assert (response.status_code, response.body.decode()) == (404, expected)


def test_a_flow_too_large_for_a_url_is_stored_instead_and_still_signs_in(http, register, aws):
    from chalicelib import services
    from chalicelib.oauth.sealed_challenges import MAX_LENGTH

    scopes = " ".join(f"scope-{n:03}" for n in range(180))  # 1.8 KB of registered scopes
    client = register(grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope=f"openid {scopes}")
    browser = Browser(http)
    typical = login_challenge_of(browser.get(f"{ISSUER}/oauth2/auth?{urlencode(valid_query(client))}"))
    assert len(typical) < 1024  # a typical flow travels sealed in the login page's URL
    large = valid_query(client, scope=f"openid {scopes}", state="s" * 512, nonce="n" * 512, login_hint="h" * 256)
    aws.reset()
    challenge = login_challenge_of(browser.get(f"{ISSUER}/oauth2/auth?{urlencode(large)}"))
    assert len(challenge) < MAX_LENGTH and aws.by_operation()["dynamodb.PutItem"] == 1  # stored, as before
    redirect_to = services.flows().accept_login(challenge, subject="u")
    assert "consent_challenge=" in browser.get(redirect_to).headers["Location"]


def test_a_visit_to_the_device_page_writes_nothing_until_a_code_is_accepted(http, register, aws):
    import json

    from tests.http.test_device_flow import device_auth, form_fields, post_form
    from tests.oauth_flow import DEVICE_GRANT as GRANT

    tv = register(grant_types=[GRANT], scope="openid offline_access", token_endpoint_auth_method="none")
    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    verify_page(http)  # warm
    aws.reset()
    browser = Browser(http)
    page = browser.get(f"{ISSUER}/oauth2/device/verify?{urlencode({'user_code': user_code})}")
    assert page.status_code == 200 and prefilled(page) == user_code
    assert writes(aws) == [], aws.calls  # was one PutItem (the device challenge)
    fields = form_fields(page)
    assert post_form(http, fields, cookie_header(browser), user_code).status_code == 303
    # The same challenge answers once: a second accept gets the wrong-code page.
    assert post_form(http, fields, cookie_header(browser), user_code).status_code == 400
