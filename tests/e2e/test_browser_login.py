"""The default login and consent pages in a real browser (Debian's Chromium) against the real local stack.

Each sign-in starts at the authorization endpoint, as a client would send a person there; the client's
redirect URI is answered by Playwright, so nothing listens on it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests import e2e_http

pytestmark = pytest.mark.e2e

APP = "https://app.example.com"
REDIRECT_URI = f"{APP}/cb"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def client(browser_stack):
    return browser_stack.admin.register(
        client_name="Photo Printer",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code"],
        scope="openid profile email",
    )


@pytest.fixture(scope="module")
def alice(browser_stack):
    return browser_stack.admin.create_user("alice", PASSWORD, email="alice@example.com", name="Alice")


@pytest.fixture
def app_page(page):
    """The browser, with the client's site (its redirect URI among it) answered by Playwright."""
    page.route(f"{APP}/**", lambda route: route.fulfill(status=200, content_type="text/html", body="app"))
    return page


def start_at_the_client(page, url: str) -> None:
    """Follow a link on the client's own site, so every later request starts cross-site, as in real life.

    The CSRF cookie is SameSite=Strict: Chromium does not send it with this navigation, so the login
    page must work with the fresh one it sets.
    """
    link = f'<a href="{html.escape(url)}">Sign in with Tollgate</a>'
    page.route(f"{APP}/start", lambda route: route.fulfill(status=200, content_type="text/html", body=link))
    page.goto(f"{APP}/start")
    page.get_by_role("link", name="Sign in with Tollgate").click()
    page.wait_for_url(re.compile(r".*/ui/login\?"))


def authorization_url(stack, client, **extra) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": client["client_id"],
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{stack.issuer}/oauth2/auth?{urlencode(query)}"


def sign_in(page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_login_page_has_its_labels_and_security_headers(browser_stack, client, app_page):
    response = app_page.goto(authorization_url(browser_stack, client))
    assert urlsplit(app_page.url).path == "/ui/login" and response.status == 200
    assert app_page.get_by_role("heading", name="Sign in").is_visible()
    assert app_page.get_by_text("Photo Printer").is_visible()
    assert app_page.get_by_label("Username").is_visible() and app_page.get_by_label("Password").is_visible()
    assert app_page.get_by_role("button", name="Sign in").is_visible()
    headers = response.headers
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    # The stylesheet is allowed by its hash: Chromium applied it (a blocked <style> leaves 8px body margin).
    assert app_page.evaluate("getComputedStyle(document.body).margin") == "0px"


def test_a_wrong_password_and_an_unknown_username_get_the_same_message(browser_stack, client, alice, app_page):
    app_page.goto(authorization_url(browser_stack, client))
    sign_in(app_page, "alice", "not the password")
    assert app_page.get_by_role("alert").inner_text() == "Wrong username or password."
    assert app_page.get_by_label("Username").input_value() == "alice"
    sign_in(app_page, "mallory", PASSWORD)
    assert app_page.get_by_role("alert").inner_text() == "Wrong username or password."


def test_repeated_failures_show_when_to_try_again_without_naming_the_username(browser_stack, client, app_page):
    browser_stack.admin.create_user("bob", PASSWORD)
    app_page.goto(authorization_url(browser_stack, client))
    for _ in range(4):
        sign_in(app_page, "bob", "not the password")
        assert app_page.get_by_role("alert").inner_text() == "Wrong username or password."
    # From the fifth attempt on, attempts must wait 2, 4, 8... s apart (real time here: retry until refused).
    for _ in range(8):
        sign_in(app_page, "bob", "not the password")
        alert = app_page.get_by_role("alert").inner_text()
        if alert != "Wrong username or password.":
            break
    assert re.fullmatch(r"Too many failed sign-ins\. Try again in \d+ (seconds?|minutes?)\.", alert), alert
    assert urlsplit(app_page.url).path == "/ui/login"


def test_a_post_without_the_csrf_token_is_refused(browser_stack, client, alice):
    with e2e_http.without_keep_alive(requests.Session()) as session:
        start = session.get(authorization_url(browser_stack, client), allow_redirects=False, timeout=10)
        login_url = start.headers["Location"]
        challenge = parse_qs(urlsplit(login_url).query)["login_challenge"][0]
        form = session.get(login_url, timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        fields = {"login_challenge": challenge, "username": "alice", "password": PASSWORD}

        without_field = session.post(login_url, data=fields, allow_redirects=False, timeout=10)
        session.cookies.clear()
        with_token_only = {**fields, "csrf_token": token}
        without_cookie = session.post(login_url, data=with_token_only, allow_redirects=False, timeout=10)
    for refused in (without_field, without_cookie):
        assert refused.status_code == 403 and refused.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "did not come from this site" in refused.text
        assert refused.headers["X-Frame-Options"] == "DENY"


def test_signing_in_and_allowing_reaches_the_client_with_a_code(browser_stack, client, alice, app_page):
    start_at_the_client(app_page, authorization_url(browser_stack, client))
    sign_in(app_page, "alice", PASSWORD)
    app_page.wait_for_url(re.compile(r".*/ui/consent\?"))
    assert app_page.get_by_text("Photo Printer").first.is_visible()
    assert app_page.get_by_text("See your name and username").is_visible()
    app_page.get_by_label("Remember this decision").check()
    app_page.get_by_role("button", name="Allow").click()
    # Chromium applies the consent page's form-action to the redirects that follow: they must reach the client.
    app_page.wait_for_url(f"{REDIRECT_URI}?**")
    answer = {k: v[0] for k, v in parse_qs(urlsplit(app_page.url).query).items()}
    assert answer["code"].startswith("tg_ac_") and answer["state"] == "st-1" and answer["iss"] == browser_stack.issuer

    # Again with prompt=login: the browser now holds a CSRF cookie it does not send cross-site; the login
    # form still works, and with the consent remembered its redirects lead straight to the client.
    start_at_the_client(app_page, authorization_url(browser_stack, client, prompt="login", state="st-2"))
    sign_in(app_page, "alice", PASSWORD)
    app_page.wait_for_url(f"{REDIRECT_URI}?**")
    assert parse_qs(urlsplit(app_page.url).query)["state"] == ["st-2"]


def session_cookie(page) -> dict:
    (cookie,) = [c for c in page.context.cookies() if c["name"].endswith("tollgate_session")]
    return cookie


def test_without_keep_me_signed_in_the_session_cookie_ends_with_the_browser(browser_stack, client, app_page):
    browser_stack.admin.create_user("dave", PASSWORD)
    start_at_the_client(app_page, authorization_url(browser_stack, client))
    assert not app_page.get_by_label("Keep me signed in").is_checked()
    sign_in(app_page, "dave", PASSWORD)
    app_page.wait_for_url(re.compile(r".*/ui/consent\?"))
    cookie = session_cookie(app_page)
    assert cookie["expires"] == -1 and cookie["httpOnly"] and cookie["sameSite"] == "Lax"  # a session cookie
    # Single sign-on still works while the browser is open: the next authorization skips the login page.
    app_page.goto(authorization_url(browser_stack, client, state="st-2"))
    assert urlsplit(app_page.url).path == "/ui/consent"


def test_keep_me_signed_in_makes_the_session_cookie_persistent(browser_stack, client, app_page):
    import time

    browser_stack.admin.create_user("erin", PASSWORD)
    start_at_the_client(app_page, authorization_url(browser_stack, client))
    app_page.get_by_label("Keep me signed in").check()
    sign_in(app_page, "erin", PASSWORD)
    app_page.wait_for_url(re.compile(r".*/ui/consent\?"))
    assert session_cookie(app_page)["expires"] > time.time() + 86400 - 60  # SESSION_TTL, one day


def test_deny_sends_access_denied_to_the_client(browser_stack, client, app_page):
    browser_stack.admin.create_user("carol", PASSWORD)
    start_at_the_client(app_page, authorization_url(browser_stack, client))
    sign_in(app_page, "carol", PASSWORD)
    app_page.get_by_role("button", name="Deny").click()
    app_page.wait_for_url(f"{REDIRECT_URI}?**")
    answer = {k: v[0] for k, v in parse_qs(urlsplit(app_page.url).query).items()}
    assert answer["error"] == "access_denied" and answer["state"] == "st-1"


@pytest.mark.parametrize("backslash", ["\\", "%5C"])
def test_a_backslash_redirect_uri_ends_on_the_error_page_and_never_leaves_tollgate(browser_stack, page, backslash):
    """WHATWG URL: ``\\`` ends the host, so the browser would carry the code to evil.example."""
    native = browser_stack.admin.register(
        client_name="Desktop Notes",
        redirect_uris=["http://127.0.0.1/callback"],
        grant_types=["authorization_code"],
        token_endpoint_auth_method="none",
        scope="openid",
    )
    port = urlsplit(browser_stack.issuer).port
    tollgate = urlsplit(browser_stack.issuer).netloc
    left = []  # every request the browser made anywhere but Tollgate (answered here, so nothing listens)

    def elsewhere(route):
        left.append(route.request.url)
        route.fulfill(status=200, body="the code left Tollgate")

    page.route(lambda url: urlsplit(url).netloc != tollgate, elsewhere)
    redirect_uri = f"http://evil.example{backslash}@127.0.0.1:{port}/callback"
    url = authorization_url(browser_stack, native, redirect_uri=redirect_uri, scope="openid")
    response = page.goto(url)
    assert response.status == 400 and page.url == url
    assert page.get_by_text("The redirect_uri").is_visible()  # the error page says why
    assert left == []
