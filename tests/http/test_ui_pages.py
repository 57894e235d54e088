"""The default login and consent pages over HTTP (Chalice's test client): CSRF, throttling, headers, 303s.

Challenges are created the way /oauth2/auth creates them, through ``services.flows()``, so these
tests need nothing of the authorization endpoint.
"""

from __future__ import annotations

import re
import threading
from html import unescape
from urllib.parse import urlencode

import pytest

from chalicelib import admin, services
from chalicelib.oauth import users
from chalicelib.oauth.csrf import CsrfGuard
from chalicelib.oauth.models.interaction import AuthorizationRequest
from chalicelib.web import adapter
from tests.conftest import FORM, ISSUER

PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://app.example.com/cb"


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch):
    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))
    users._decoy_hash.cache_clear()
    yield
    users._decoy_hash.cache_clear()


@pytest.fixture
def client(register):
    return register(
        client_name="Photo <Printer>",
        redirect_uris=[REDIRECT_URI, "http://127.0.0.1/native", "com.example.app:/cb"],
        scope="openid profile email offline_access photos:read",
        audience=["https://api.example.com"],
        grant_types=["authorization_code"],
    )


@pytest.fixture
def alice(aws):
    answer = admin.handle({"operation": "users.create", "params": {"username": "alice", "password": PASSWORD}})
    return answer["result"]


def new_flow(client, scope=("openid", "profile", "photos:read"), audience=("https://api.example.com",)):
    request = AuthorizationRequest(
        client_id=client["client_id"],
        redirect_uri=REDIRECT_URI,
        redirect_uri_given=True,
        scope=tuple(scope),
        audience=tuple(audience),
        state="s",
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        prompt=(),
        max_age=None,
    )
    return services.flows().new_flow(request, "flow-cookie")


def login_challenge(client) -> str:
    return services.flows().request_login(new_flow(client))


def consent_challenge(client, **flow) -> str:
    return services.flows().request_consent(new_flow(client, **flow))


def hidden(body: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', body)
    assert match, f"no hidden field {name}"
    return unescape(match.group(1))


def cookie_of(response) -> str:
    """``name=value`` of the one Set-Cookie the page sent."""
    (cookie,) = response.headers["Set-Cookie"]
    return cookie.split(";", 1)[0]


class Page:
    """A page fetched with GET, and what a browser would post back from its form."""

    def __init__(self, http, path: str, cookie: str | None = None) -> None:
        self.http = http
        self.path = path
        self.response = http.get(path, headers={"Cookie": cookie} if cookie else {})
        self.body = self.response.body.decode()
        self.cookie = cookie or cookie_of(self.response)

    def post(self, *, csrf: str | None = None, cookie: str | None = None, **fields: str):
        form = {**fields, "csrf_token": self.csrf if csrf is None else csrf}
        headers = {**FORM, "Cookie": self.cookie if cookie is None else cookie}
        return self.http.post(self.path.split("?")[0], headers=headers, body=urlencode(form))

    @property
    def csrf(self) -> str:
        return hidden(self.body, "csrf_token")


def login_page(http, client, cookie=None) -> tuple[Page, str]:
    challenge = login_challenge(client)
    return Page(http, f"/ui/login?{urlencode({'login_challenge': challenge})}", cookie), challenge


def sign_in(page: Page, challenge: str, username: str, password: str):
    return page.post(login_challenge=challenge, username=username, password=password)


# --- the login page -------------------------------------------------------------------------


def test_login_page_has_the_labelled_fields_escapes_the_client_name_and_sends_security_headers(http, client):
    page, challenge = login_page(http, client)
    assert page.response.status_code == 200
    body = page.body
    assert '<label for="username">Username</label>' in body and '<label for="password">Password</label>' in body
    assert '<button type="submit">Sign in</button>' in body
    assert "Photo &lt;Printer&gt;" in body and "<Printer>" not in body  # autoescaped
    assert hidden(body, "login_challenge") == challenge
    headers = page.response.headers
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    csp = dict(part.split(" ", 1) for part in headers["Content-Security-Policy"].split("; "))
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["style-src"].startswith("'sha256-") and "unsafe" not in headers["Content-Security-Policy"]
    # The form may end at the client's redirect URIs after /oauth2/auth's redirects (Chromium checks them).
    assert csp["form-action"].split() == [
        "'self'",
        ISSUER,
        "https://app.example.com",
        "http://127.0.0.1:*",
        "com.example.app:",
    ]


def test_the_csrf_cookie_is_httponly_samesite_strict_and_secure_outside_local(http, client, monkeypatch):
    page, _ = login_page(http, client)
    (cookie,) = page.response.headers["Set-Cookie"]
    assert cookie.startswith("tollgate_csrf=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # the local stage serves plain http

    secure = CsrfGuard(secure=True)  # what every stage but local gets
    monkeypatch.setattr(services, "csrf_guard", lambda: secure)
    page, _ = login_page(http, client)
    (cookie,) = page.response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-tollgate_csrf=") and "Secure" in cookie and "Path=/" in cookie


def test_a_browser_that_has_the_csrf_cookie_keeps_it(http, client):
    first, _ = login_page(http, client)
    second, _ = login_page(http, client, cookie=first.cookie)
    assert "Set-Cookie" not in second.response.headers
    assert second.csrf != first.csrf  # same secret, another challenge: another token


@pytest.mark.parametrize("query", ["", "?login_challenge=nope"])
def test_an_unknown_or_missing_challenge_shows_an_error_page_not_a_server_error(http, query):
    response = http.get(f"/ui/login{query}")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "unknown, was already used or has expired" in response.body.decode()


def test_a_right_password_accepts_the_challenge_and_answers_303(http, client, alice):
    page, challenge = login_page(http, client)
    response = sign_in(page, challenge, "alice", PASSWORD)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{ISSUER}/oauth2/auth?login_verifier=")
    flow = services.flows().redeem_login_verifier(location.split("=", 1)[1])
    authentication = flow.authentication
    assert authentication.subject == alice["user_id"] != "alice"
    assert authentication.amr == ("pwd",) and authentication.remember and authentication.remember_for == 0
    # The challenge is used up: posting the form again is an error page, not a second login.
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 404


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong password"), ("nobody", PASSWORD), ("Alice", PASSWORD)]
)
def test_a_failed_login_shows_one_generic_message(http, client, alice, username, password):
    page, challenge = login_page(http, client)
    response = sign_in(page, challenge, username, password)
    assert response.status_code == 200
    body = response.body.decode()
    assert "Wrong username or password." in body and 'role="alert"' in body
    assert hidden(body, "login_challenge") == challenge  # the same sign-in goes on
    assert services.flows().login_request(challenge)  # and its challenge is still open


@pytest.mark.parametrize(
    ("csrf", "cookie"),
    [("", None), ("forged", None), (None, ""), (None, "tollgate_csrf=" + "A" * 43)],
    ids=["no field", "wrong field", "no cookie", "another browser's cookie"],
)
def test_a_post_without_the_matching_csrf_token_is_refused_with_403(http, client, alice, csrf, cookie):
    page, challenge = login_page(http, client)
    response = page.post(csrf=csrf, cookie=cookie, login_challenge=challenge, username="alice", password=PASSWORD)
    assert response.status_code == 403
    assert "did not come from this site" in response.body.decode()
    assert services.flows().login_request(challenge)  # nothing happened to the sign-in


def test_a_csrf_token_is_bound_to_its_challenge(http, client, alice):
    page, _ = login_page(http, client)
    other = login_challenge(client)
    response = page.post(login_challenge=other, username="alice", password=PASSWORD)
    assert response.status_code == 403


def test_a_non_form_post_is_an_error_page(http, client):
    response = http.post("/ui/login", headers={"Content-Type": "application/json"}, body="{}")
    assert response.status_code == 400 and "text/html" in response.headers["Content-Type"]


# --- throttling -------------------------------------------------------------------------------


@pytest.fixture
def source(monkeypatch):
    """Set the source address the next requests come from (API Gateway's ``identity.sourceIp``)."""
    from chalice.local import LambdaEventConverter

    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    return use


@pytest.fixture
def password_checks(monkeypatch):
    """How many scrypt verifications ran (observing ``verify_password``, not replacing it)."""
    import chalicelib.oauth.password_login as password_login

    calls: list[str] = []
    verify = users.verify_password

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return verify(password, stored)

    monkeypatch.setattr(users, "verify_password", counting)  # the decoy check of unknown usernames
    monkeypatch.setattr(password_login, "verify_password", counting)
    return calls


LOCKED = "Too many failed sign-ins. Try again in"


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_five_failures_from_one_address_delay_the_next_attempt_whether_or_not_the_username_exists(
    http, client, alice, username, frozen_clock
):
    page, challenge = login_page(http, client)
    for _ in range(5):
        assert sign_in(page, challenge, username, "wrong password").status_code == 200
    sixth = sign_in(page, challenge, username, PASSWORD)
    assert sixth.status_code == 429 and 0 < int(sixth.headers["Retry-After"]) <= 900
    body = sixth.body.decode()
    assert LOCKED in body and "username" not in body.split(LOCKED)[1].split("<")[0]
    # Another username from the same address is not affected.
    assert sign_in(page, challenge, "someone-else", "wrong password").status_code == 200


def test_twenty_parallel_wrong_passwords_reach_the_password_check_at_most_five_times(
    http, client, alice, password_checks, frozen_clock
):
    page, challenge = login_page(http, client)
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def guess(n: int) -> None:
        barrier.wait()
        statuses.append(sign_in(page, challenge, "alice", f"wrong password {n}").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(password_checks) <= 5, len(password_checks)
    assert statuses.count(429) >= 15


def test_failures_from_one_address_do_not_lock_the_username_for_another(http, client, alice, source, frozen_clock):
    source("203.0.113.66")
    page, challenge = login_page(http, client)
    for _ in range(10):
        sign_in(page, challenge, "alice", "wrong password")
    page, challenge = login_page(http, client)  # the first has had its 10 attempts (test_login_cost.py)
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 429
    source("198.51.100.7")
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303


def test_after_the_limit_the_delay_doubles_with_each_attempt(http, client, alice, frozen_clock):
    page, challenge = login_page(http, client)
    for _ in range(5):
        sign_in(page, challenge, "alice", "wrong password")
    waits = []
    for _ in range(4):
        page, challenge = login_page(http, client)  # a challenge allows 10 attempts: the pair's delay outlives it
        refused = sign_in(page, challenge, "alice", "wrong password")
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        frozen_clock[0] += waits[-1]
        assert sign_in(page, challenge, "alice", "wrong password").status_code == 200  # one more try, then wait
    assert waits == sorted(waits) and waits[-1] >= 4 * waits[0], waits
    frozen_clock[0] += 901
    page, challenge = login_page(http, client)
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303


def test_a_success_clears_earlier_failures_from_that_address(http, client, alice):
    for _ in range(4):
        page, challenge = login_page(http, client)
        sign_in(page, challenge, "alice", "wrong password")
    page, challenge = login_page(http, client)
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303
    page, challenge = login_page(http, client)
    for _ in range(5):
        assert sign_in(page, challenge, "alice", "wrong password").status_code == 200


# --- the consent page -------------------------------------------------------------------------


def consent_page(http, client, **flow) -> tuple[Page, str]:
    challenge = consent_challenge(client, **flow)
    return Page(http, f"/ui/consent?{urlencode({'consent_challenge': challenge})}"), challenge


def test_consent_page_names_the_client_scopes_in_words_and_audiences(http, client):
    page, challenge = consent_page(http, client)
    body = page.body
    assert page.response.status_code == 200 and "Photo &lt;Printer&gt;" in body
    assert "Sign you in with your account" in body and "See your name and username" in body
    assert "photos:read" in body  # a scope without words is shown as it is
    assert "https://api.example.com" in body
    assert '<label for="remember">Remember this decision</label>' in body
    assert 'value="allow">Allow</button>' in body and 'value="deny" class="secondary">Deny</button>' in body
    assert page.response.headers["X-Frame-Options"] == "DENY"
    assert hidden(body, "consent_challenge") == challenge


@pytest.mark.parametrize("remember", [True, False])
def test_allow_grants_what_was_requested_and_answers_303(http, client, remember):
    page, challenge = consent_page(http, client)
    fields = {"consent_challenge": challenge, "decision": "allow", **({"remember": "yes"} if remember else {})}
    response = page.post(**fields)
    assert response.status_code == 303
    verifier = response.headers["Location"].split("consent_verifier=", 1)[1]
    consent = services.flows().redeem_consent_verifier(verifier).consent
    assert consent.grant_scope == ("openid", "profile", "photos:read")
    assert consent.grant_access_token_audience == ("https://api.example.com",)
    assert consent.remember is remember


def test_deny_rejects_with_access_denied(http, client):
    page, challenge = consent_page(http, client)
    response = page.post(consent_challenge=challenge, decision="deny")
    assert response.status_code == 303
    verifier = response.headers["Location"].split("consent_verifier=", 1)[1]
    flow = services.flows().redeem_consent_verifier(verifier)
    assert flow.consent is None and flow.rejection.error == "access_denied"


def test_consent_post_without_csrf_token_is_refused(http, client):
    page, challenge = consent_page(http, client)
    assert page.post(csrf="", consent_challenge=challenge, decision="allow").status_code == 403
    assert services.flows().consent_request(challenge)


def test_consent_page_lists_the_registered_audience_when_the_client_asked_for_none(http, client):
    from tests.oauth_flow import Browser, authorize_url, query_of

    browser = Browser(http)
    url = authorize_url(client["client_id"], scope="openid", code_challenge="c" * 43, code_challenge_method="S256")
    login = query_of(browser.get(url).headers["Location"])["login_challenge"]
    redirect_to = services.flows().accept_login(login, subject="u-1")
    consent_url = browser.get(redirect_to).headers["Location"]
    assert consent_url.startswith(f"{ISSUER}/ui/consent?")
    page = Page(http, consent_url.removeprefix(ISSUER))
    assert "It would use this access at:" in page.body and "<code>https://api.example.com</code>" in page.body


def test_consent_without_scopes_says_so(http, client):
    page, _ = consent_page(http, client, scope=(), audience=())
    assert "asks for no particular permission" in page.body


# --- several cookies in one response -----------------------------------------------------


def test_several_cookies_become_api_gateway_multi_value_headers():
    from chalicelib.oauth.http import Response

    response = adapter.chalice_response(Response(303, "", {"Location": "/x"}, ("a=1; HttpOnly", "b=2; HttpOnly")))
    event = response.to_dict()
    assert event["multiValueHeaders"] == {"Set-Cookie": ["a=1; HttpOnly", "b=2; HttpOnly"]}
    assert event["headers"] == {"Location": "/x"}
