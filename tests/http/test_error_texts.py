"""Error texts are fixed: nothing an attacker chooses is echoed back (OWASP: reflected input, CWE-79/CWE-113).

Every endpoint gets attacker-chosen parameter *names* (repeated, overlong)
and *values* for the parameters it refuses, each carrying a marker: script
markup, 5 KB of text, control characters, CRLF with a header after it.  The
marker must appear nowhere in the answer: not in the body (raw or
JSON-decoded), not in ``Location`` (raw or percent-decoded), not in any header.
What the protocol itself round-trips (``state`` to a validated redirect URI)
is not sent here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import unquote_plus, urlencode

import pytest

from chalicelib.oauth import users
from tests.conftest import FORM, basic
from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, pkce_pair, query_of

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LOGOUT_URI = "https://app.example.com/bye"

MARKERS = {
    "script": "<script>alert('tg')</script>",
    "5kb": "tg5k" + "Q" * 5000,
    "control": "tg\x01\x07\x1b[2J\x7f",
    "crlf": "tg\r\nSet-Cookie: pwned=1",
    "nul": "tg\x00nul",
}

Pairs = list[tuple[str, str]]


def needle(marker: str) -> str:
    """What must not come back: the marker, or for a long one any 100 characters of it."""
    return marker if len(marker) < 100 else marker[-100:]


def texts(response: Any) -> Iterator[str]:
    """Everything of a response a browser, a client or a log could read, decoded every way we know."""
    body = response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) else str(response.body)
    yield body  # HTML-escaped text is fine: `&lt;script&gt;` is not the marker (the other markers escape to themselves)
    if body.startswith("{"):
        yield from (str(value) for value in json.loads(body).values())
    for name, value in response.headers.items():
        for one in value if isinstance(value, list) else [value]:
            yield f"{name}: {one}"
            yield unquote_plus(str(one))


def assert_not_echoed(kind: str, marker: str, responses: list[Any]) -> None:
    for response in responses:
        assert response.status_code < 500, (kind, response.body[:300])
        for text in texts(response):
            assert needle(marker) not in text, (kind, response.status_code, text[:300])


def unknown_names(marker: str) -> list[Pairs]:
    """Made-up parameter names: one repeated, one with a 5 KB value."""
    return [[(marker, "1"), (marker, "2")], [(marker, "v" * 5000)]]


@dataclass
class Context:
    http: Any
    client: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {**FORM, "Authorization": basic(self.client["client_id"], self.client["client_secret"])}

    def post(self, path: str, pairs: Pairs, headers: dict[str, str] | None = None) -> Any:
        return self.http.post(path, headers=headers or self.auth, body=urlencode(pairs))

    def get(self, path: str, pairs: Pairs, headers: dict[str, str] | None = None) -> Any:
        return self.http.get(f"{path}?{urlencode(pairs)}", headers=headers or {})


def authorization_endpoint(ctx: Context, marker: str) -> list[Any]:
    _, challenge = pkce_pair()
    base = {"code_challenge": challenge, "code_challenge_method": "S256", "state": "st", "scope": "openid"}
    refused = ["scope", "prompt", "response_type", "code_challenge_method", "code_challenge", "max_age", "audience"]
    refused += ["response_mode", "request", "request_uri"]
    answers = [
        Browser(ctx.http).get(authorize_url(ctx.client["client_id"], **{**base, name: marker})) for name in refused
    ]
    # The client or redirect_uri is not genuine: an error page.
    answers.append(Browser(ctx.http).get(authorize_url(marker, **base)))
    answers.append(ctx.get("/oauth2/auth", [("client_id", ctx.client["client_id"]), ("redirect_uri", marker)]))
    for pairs in unknown_names(marker):
        url = authorize_url(ctx.client["client_id"], **base) + "&" + urlencode(pairs)
        answers.append(Browser(ctx.http).get(url))
    for name in ("login_verifier", "consent_verifier"):
        answers.append(ctx.get("/oauth2/auth", [(name, marker)]))
        answers.append(ctx.get("/oauth2/auth", [(name, marker), (name, marker)]))
    return answers


def token_endpoint(ctx: Context, marker: str) -> list[Any]:
    cc = [("grant_type", "client_credentials")]
    code = [("grant_type", "authorization_code"), ("redirect_uri", REDIRECT_URI), ("code_verifier", "v" * 43)]
    answers = [ctx.post("/oauth2/token", [("grant_type", marker)])]
    answers += [ctx.post("/oauth2/token", [*cc, (name, marker)]) for name in ("scope", "audience", "resource")]
    answers += [ctx.post("/oauth2/token", [*cc, ("client_secret", marker)])]
    answers += [ctx.post("/oauth2/token", [("grant_type", "authorization_code"), ("code", marker)])]
    answers += [ctx.post("/oauth2/token", [*code, ("code", "tg_ac_x"), ("redirect_uri", marker)])]
    answers += [ctx.post("/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", marker)])]
    answers += [ctx.post("/oauth2/token", [("grant_type", DEVICE_GRANT), ("device_code", marker)])]
    answers += [ctx.post("/oauth2/token", [*cc, ("client_id", marker)], headers=FORM)]
    answers += [ctx.post("/oauth2/token", cc, headers={**FORM, "Authorization": basic(marker, "secret")})]
    answers += [ctx.post("/oauth2/token", cc + pairs) for pairs in unknown_names(marker)]
    return answers


def device_authorization(ctx: Context, marker: str) -> list[Any]:
    answers = [ctx.post("/oauth2/device/auth", [(name, marker)]) for name in ("scope", "audience")]
    answers.append(ctx.post("/oauth2/device/auth", [("client_id", marker)], headers=FORM))
    answers += [ctx.post("/oauth2/device/auth", pairs) for pairs in unknown_names(marker)]
    return answers


def device_verification(ctx: Context, marker: str) -> list[Any]:
    names = ("user_code", "device_verifier", "device", "error", "device_challenge")
    answers = [ctx.get("/oauth2/device/verify", [(name, marker)]) for name in names]
    answers += [ctx.get("/oauth2/device/verify", pairs) for pairs in unknown_names(marker)]
    # The form posted back with its own CSRF token and challenge, and the marker as the code.
    browser = Browser(ctx.http)
    page = browser.get("/oauth2/device/verify")
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.body.decode()))
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()), **FORM}
    answers.append(ctx.post("/oauth2/device/verify", [*fields.items(), ("user_code", marker)], headers=cookie))
    answers.append(ctx.post("/oauth2/device/verify", [("device_challenge", marker), ("user_code", marker)], FORM))
    return answers


def token_checks(path: str) -> Callable[[Context, str], list[Any]]:
    def attempts(ctx: Context, marker: str) -> list[Any]:
        answers = [ctx.post(path, [("token", marker)]), ctx.post(path, [("token", "x"), ("token_type_hint", marker)])]
        answers += [ctx.post(path, [("token", "x"), *pairs]) for pairs in unknown_names(marker)]
        return answers

    return attempts


def userinfo(ctx: Context, marker: str) -> list[Any]:
    answers = [
        ctx.get("/userinfo", [("access_token", marker)]),
        ctx.post("/userinfo", [("access_token", marker)], FORM),
    ]
    answers.append(ctx.http.get("/userinfo", headers={"Authorization": "Bearer " + marker.replace("\r\n", " ")}))
    answers += [ctx.get("/userinfo", pairs) for pairs in unknown_names(marker)]
    return answers


def logout(ctx: Context, marker: str) -> list[Any]:
    names = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
    answers = [ctx.get("/oauth2/sessions/logout", [(name, marker)]) for name in names]
    answers += [ctx.post("/oauth2/sessions/logout", [(name, marker)], FORM) for name in names]
    answers += [ctx.get("/oauth2/sessions/logout", pairs) for pairs in unknown_names(marker)]
    return answers


def login_page(ctx: Context, marker: str) -> list[Any]:
    answers = [ctx.get("/ui/login", [("login_challenge", marker)])]
    answers += [ctx.get("/ui/login", pairs) for pairs in unknown_names(marker)]
    # A sign-in link carrying the marker as login_hint, and the marker typed as the username.
    browser = Browser(ctx.http)
    _, challenge = pkce_pair()
    url = authorize_url(ctx.client["client_id"], code_challenge=challenge, code_challenge_method="S256")
    started = browser.get(f"{url}&{urlencode({'login_hint': marker})}")
    answers.append(started)
    location = started.headers.get("Location", "")
    if "login_challenge=" in location:
        answers.append(browser.get(location))
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answers[-1].body.decode()))
        fields = {name: unescape(value) for name, value in fields.items() if name != "username"}
        cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()), **FORM}
        typed = [*fields.items(), ("username", marker), ("password", "not the password")]
        answers.append(ctx.post("/ui/login", typed, headers=cookie))
        answers.append(ctx.post("/ui/login", [*fields.items(), ("csrf_token", marker)], headers=cookie))
    answers.append(ctx.post("/ui/login", [("login_challenge", marker), ("username", marker)], FORM))
    return answers


def consent_page(ctx: Context, marker: str) -> list[Any]:
    answers = [ctx.get("/ui/consent", [("consent_challenge", marker)])]
    answers += [ctx.get("/ui/consent", pairs) for pairs in unknown_names(marker)]
    answers.append(ctx.post("/ui/consent", [("consent_challenge", marker), ("decision", marker)], FORM))
    return answers


ENDPOINTS: dict[str, Callable[[Context, str], list[Any]]] = {
    "/oauth2/auth": authorization_endpoint,
    "/oauth2/token": token_endpoint,
    "/oauth2/device/auth": device_authorization,
    "/oauth2/device/verify": device_verification,
    "/oauth2/introspect": token_checks("/oauth2/introspect"),
    "/oauth2/revoke": token_checks("/oauth2/revoke"),
    "/userinfo": userinfo,
    "/oauth2/sessions/logout": logout,
    "/ui/login": login_page,
    "/ui/consent": consent_page,
}


@pytest.fixture
def ctx(http, register, monkeypatch) -> Context:
    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))  # cheap hashes: many sign-ins
    users._decoy_hash.cache_clear()
    client = register(
        client_name="Web app",
        grant_types=["authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT],
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[LOGOUT_URI],
        scope="openid offline_access",
        audience=["https://api.example.com"],
    )
    yield Context(http, client)
    users._decoy_hash.cache_clear()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_attacker_chosen_names_and_values_never_come_back(ctx, endpoint):
    for kind, marker in MARKERS.items():  # one test per endpoint: the embedded AWS is set up once for all five
        assert_not_echoed(kind, marker, ENDPOINTS[endpoint](ctx, marker))


def test_errors_name_our_own_parameters_and_no_other(ctx):
    """A developer still learns which of *our* parameters is wrong; a made-up name is 'a parameter'."""
    scope_twice = ctx.post("/oauth2/token", [("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")])
    assert json.loads(scope_twice.body)["error_description"] == "parameter 'scope' is repeated"
    made_up = ctx.post("/oauth2/token", [("grant_type", "client_credentials"), ("colour", "a"), ("colour", "b")])
    assert json.loads(made_up.body) == {"error": "invalid_request", "error_description": "a parameter is repeated"}
    _, challenge = pkce_pair()
    url = authorize_url(ctx.client["client_id"], code_challenge=challenge, code_challenge_method="S256", state="st")
    answer = query_of(Browser(ctx.http).get(url + "&colour=a&colour=b").headers["Location"])
    assert answer["error_description"] == "a parameter is repeated" and answer["state"] == "st"
