"""Whole sign-ins in a real browser (Debian's Chromium) against the real local stack (moto server + chalice local).

Covers what a person does: sign in for a confidential web app and for a public
single-page app, come back signed in (SSO) with consent remembered, sign out,
connect a TV with the device flow while the TV polls in a thread, and confirm
every further device even when signed in with consent remembered.  The
client's side (code exchange, polling) is plain HTTP, as an app would do it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from tests import e2e_http
from tests.e2e.test_browser_login import APP, PASSWORD, REDIRECT_URI, sign_in, start_at_the_client

pytestmark = pytest.mark.e2e
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LOGOUT_URI = f"{APP}/signed-out"


@pytest.fixture(scope="module")
def web_app(browser_stack):
    return browser_stack.admin.register(
        client_name="Budget Web",
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[LOGOUT_URI],
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile offline_access",
    )


@pytest.fixture(scope="module")
def spa(browser_stack):
    return browser_stack.admin.register(
        client_name="Budget SPA",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code"],
        scope="openid profile",
        token_endpoint_auth_method="none",
    )


@pytest.fixture(scope="module")
def tv(browser_stack):
    return browser_stack.admin.register(
        client_name="Living Room TV",
        grant_types=[DEVICE_GRANT, "refresh_token"],
        scope="openid offline_access",
        token_endpoint_auth_method="none",
    )


@pytest.fixture(scope="module")
def bob(browser_stack):
    return browser_stack.admin.create_user("bob", PASSWORD, name="Bob")


@pytest.fixture
def app_page(page):
    page.route(f"{APP}/**", lambda route: route.fulfill(status=200, content_type="text/html", body="app"))
    return page


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def auth_url(stack, client, challenge, **extra) -> str:
    query = {
        "client_id": client["client_id"],
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": client["scope"],
        "state": "s-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{stack.issuer}/oauth2/auth?{urlencode(query)}"


def click_through(page, url: str) -> None:
    """Navigate from a link on the client's site, as a person would (Playwright only answers redirects
    to the client's routed site for navigations that start from a page)."""
    link = f'<a href="{html.escape(url)}">Continue</a>'
    page.route(f"{APP}/go", lambda route: route.fulfill(status=200, content_type="text/html", body=link))
    page.goto(f"{APP}/go")
    page.get_by_role("link", name="Continue").click()


def callback(page) -> dict[str, str]:
    page.wait_for_url(f"{REDIRECT_URI}?**")
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def redeem(stack, client, code, verifier) -> dict:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    auth = None
    if "client_secret" in client:
        auth = (client["client_id"], client["client_secret"])
    else:
        body["client_id"] = client["client_id"]
    with e2e_http.without_keep_alive(requests.Session()) as session:
        response = session.post(f"{stack.issuer}/oauth2/token", data=body, auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def verify_id_token(stack, token, client) -> dict:
    keys = jwt.PyJWKClient(f"{stack.issuer}/.well-known/jwks.json")
    key = keys.get_signing_key_from_jwt(token).key
    return jwt.decode(token, key, algorithms=["RS256", "ES256"], audience=client["client_id"], issuer=stack.issuer)


def test_web_app_sign_in_sso_remembered_consent_and_sign_out(browser_stack, web_app, bob, app_page):
    verifier, challenge = pkce()
    start_at_the_client(app_page, auth_url(browser_stack, web_app, challenge))
    sign_in(app_page, "bob", PASSWORD)
    app_page.wait_for_url(re.compile(r".*/ui/consent\?"))
    app_page.get_by_label("Remember this decision").check()
    app_page.get_by_role("button", name="Allow").click()
    tokens = redeem(browser_stack, web_app, callback(app_page)["code"], verifier)
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens)
    claims = verify_id_token(browser_stack, tokens["id_token"], web_app)
    assert claims["sub"] == bob["user_id"] and claims["nonce"] == "n-1"

    # SSO: the session cookie skips the login page, the remembered consent skips the consent page.
    verifier, challenge = pkce()
    click_through(app_page, auth_url(browser_stack, web_app, challenge, state="s-2"))
    answer = callback(app_page)
    assert answer["state"] == "s-2"
    again = redeem(browser_stack, web_app, answer["code"], verifier)
    assert verify_id_token(browser_stack, again["id_token"], web_app)["sid"] == claims["sid"]

    # RP-initiated logout: a Sign out button, then back to the app with its state.
    logout = urlencode({"id_token_hint": again["id_token"], "post_logout_redirect_uri": LOGOUT_URI, "state": "bye"})
    click_through(app_page, f"{browser_stack.issuer}/oauth2/sessions/logout?{logout}")
    app_page.get_by_role("button", name="Sign out").click()
    app_page.wait_for_url(f"{LOGOUT_URI}?state=bye")

    # The session is over: prompt=none now answers login_required.
    _, challenge = pkce()
    click_through(app_page, auth_url(browser_stack, web_app, challenge, prompt="none", state="s-3"))
    answer = callback(app_page)
    assert (answer["error"], answer["state"], answer["iss"]) == ("login_required", "s-3", browser_stack.issuer)


def test_single_page_app_signs_in_with_pkce_and_no_secret(browser_stack, spa, bob, app_page):
    verifier, challenge = pkce()
    start_at_the_client(app_page, auth_url(browser_stack, spa, challenge))
    sign_in(app_page, "bob", PASSWORD)
    app_page.get_by_role("button", name="Allow").click()
    tokens = redeem(browser_stack, spa, callback(app_page)["code"], verifier)
    assert verify_id_token(browser_stack, tokens["id_token"], spa)["sub"] == bob["user_id"]
    assert "refresh_token" not in tokens


def test_tv_connects_with_the_device_flow_while_it_polls(browser_stack, tv, bob, page):
    with e2e_http.without_keep_alive(requests.Session()) as session:
        started = session.post(
            f"{browser_stack.issuer}/oauth2/device/auth",
            data={"client_id": tv["client_id"], "scope": "openid offline_access"},
            timeout=10,
        ).json()
    answers: list[dict] = []

    def poll() -> None:
        deadline = time.monotonic() + 90
        interval = started["interval"]
        with e2e_http.without_keep_alive(requests.Session()) as poller:
            while time.monotonic() < deadline:
                time.sleep(interval)
                body = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": tv["client_id"]}
                answer = poller.post(f"{browser_stack.issuer}/oauth2/token", data=body, timeout=10).json()
                answers.append(answer)
                if answer.get("error") == "slow_down":
                    interval += 5
                elif answer.get("error") != "authorization_pending":
                    return

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    page.goto(started["verification_uri_complete"])
    assert page.get_by_label("Code").input_value() == started["user_code"]  # pre-filled, not yet submitted
    page.get_by_role("button", name="Continue").click()
    sign_in(page, "bob", PASSWORD)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(r".*/oauth2/device/verify\?device=connected"))
    assert page.get_by_text("Your device is connected").is_visible()
    poller.join(timeout=100)
    assert answers and answers[-1].get("access_token"), answers
    assert {"authorization_pending"} >= {a.get("error") for a in answers[:-1]}
    assert verify_id_token(browser_stack, answers[-1]["id_token"], tv)["sub"] == bob["user_id"]
    assert json.dumps(answers[-1]).count("refresh_token") == 1


def start_device(stack, client) -> dict:
    with e2e_http.without_keep_alive(requests.Session()) as session:
        return session.post(
            f"{stack.issuer}/oauth2/device/auth",
            data={"client_id": client["client_id"], "scope": "openid offline_access"},
            timeout=10,
        ).json()


def test_a_signed_in_person_who_remembered_consent_still_confirms_each_device(browser_stack, tv, bob, page):
    """RFC 8628 §5.4: a phished user code must never connect a device without a page naming the client."""
    page.goto(start_device(browser_stack, tv)["verification_uri_complete"])
    page.get_by_role("button", name="Continue").click()
    sign_in(page, "bob", PASSWORD)
    page.get_by_label("Remember this decision").check()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(r".*/oauth2/device/verify\?device=connected"))

    # Signed in (SSO) and consent remembered: no login page, but the confirmation still comes.
    second = start_device(browser_stack, tv)
    page.goto(second["verification_uri_complete"])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r".*/ui/consent\?"))
    assert page.get_by_role("heading", name="Allow Living Room TV access?").is_visible()
    assert page.get_by_role("button", name="Allow").is_visible()
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(re.compile(r".*/oauth2/device/verify\?"))
    assert page.get_by_text("Access was denied").is_visible()
    with e2e_http.without_keep_alive(requests.Session()) as session:
        body = {"grant_type": DEVICE_GRANT, "device_code": second["device_code"], "client_id": tv["client_id"]}
        answer = session.post(f"{browser_stack.issuer}/oauth2/token", data=body, timeout=10).json()
    assert answer["error"] == "access_denied"


# --- a single-page app on its own origin calls Tollgate with fetch() (CORS) ---------------------------

SPA_SCRIPT = """async ({issuer, clientId, code, verifier, redirectUri}) => {
  const post = async (path, data) => {
    const response = await fetch(issuer + path, {method: "POST", body: new URLSearchParams(data)});
    return {status: response.status, body: await response.json()};
  };
  const tokens = await post("/oauth2/token", {grant_type: "authorization_code", code, code_verifier: verifier,
                                              redirect_uri: redirectUri, client_id: clientId});
  // An Authorization header makes this a preflighted request.
  const userinfo = await fetch(issuer + "/userinfo", {headers: {Authorization: "Bearer " + tokens.body.access_token}});
  await new Promise((resolve) => setTimeout(resolve, 1100));  // REFRESH_MIN_INTERVAL of the browser stack
  const refreshed = await post("/oauth2/token", {grant_type: "refresh_token", client_id: clientId,
                                                 refresh_token: tokens.body.refresh_token});
  const refused = await post("/oauth2/token", {grant_type: "refresh_token", client_id: clientId,
                                               refresh_token: "tg_rt_forged"});
  return {tokens, userinfo: {status: userinfo.status, body: await userinfo.json()}, refreshed, refused};
}"""

FOREIGN_SCRIPT = """async ({issuer, clientId, accessToken, refreshToken}) => {
  const outcome = async (request) => {
    try { return "read " + (await request).status; } catch (error) { return error.name; }
  };
  return {
    userinfo: await outcome(fetch(issuer + "/userinfo", {headers: {Authorization: "Bearer " + accessToken}})),
    refresh: await outcome(fetch(issuer + "/oauth2/token", {method: "POST", body: new URLSearchParams(
      {grant_type: "refresh_token", client_id: clientId, refresh_token: refreshToken})})),
  };
}"""


class _StaticPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Budget SPA</title><p>app</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def static_site() -> Iterator[str]:
    """A site on its own loopback port: its origin, as a browser app would be served from."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StaticPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_single_page_app_exchanges_code_reads_userinfo_and_refreshes_from_its_origin_and_no_other(
    browser_stack, bob, page
):
    with static_site() as spa_origin, static_site() as foreign_origin:
        redirect_uri = f"{spa_origin}/cb"
        client = browser_stack.admin.register(
            client_name="Budget SPA on its own origin",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            scope="openid profile offline_access",
            token_endpoint_auth_method="none",
        )
        verifier, challenge = pkce()
        query = {
            "client_id": client["client_id"],
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": client["scope"],
            "state": "s-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        page.goto(f"{browser_stack.issuer}/oauth2/auth?{urlencode(query)}")
        sign_in(page, "bob", PASSWORD)
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(f"{redirect_uri}?**")
        code = parse_qs(urlsplit(page.url).query)["code"][0]

        # The app's own script, on its own origin, does the whole client side.
        args = {"issuer": browser_stack.issuer, "clientId": client["client_id"], "code": code, "verifier": verifier}
        seen = page.evaluate(SPA_SCRIPT, {**args, "redirectUri": redirect_uri})
        assert seen["tokens"]["status"] == 200, seen
        assert verify_id_token(browser_stack, seen["tokens"]["body"]["id_token"], client)["sub"] == bob["user_id"]
        assert seen["userinfo"]["status"] == 200 and seen["userinfo"]["body"]["sub"] == bob["user_id"]
        assert seen["refreshed"]["status"] == 200 and seen["refreshed"]["body"]["access_token"]
        assert (seen["refused"]["status"], seen["refused"]["body"]["error"]) == (400, "invalid_grant")

        # A page on an origin that is not the client's holds live tokens, yet can read no answer.
        page.goto(f"{foreign_origin}/")
        tokens = seen["refreshed"]["body"]
        foreign = {**args, "accessToken": tokens["access_token"], "refreshToken": tokens["refresh_token"]}
        assert page.evaluate(FOREIGN_SCRIPT, foreign) == {"userinfo": "TypeError", "refresh": "TypeError"}
