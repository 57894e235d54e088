"""Sign-ins, a request at a time, for the scenarios that time one step or need what a sign-in leaves behind.

A :class:`Browser` calls the handler as a browser would (cookies kept,
redirects not followed); :class:`SignIn` walks the default pages (DESIGN §4):
``/oauth2/auth``, the login page, its form, back to ``/oauth2/auth``, the
consent page, its form, back again, and the code.  Each method plays the
steps before it, so a scenario can time any one step; all the rest is
preparation, untimed and uncounted.  To get past a form it does what the
form's handler does (the same ``services.flows()`` call), so preparing a
later step never pays the login's deliberately slow password check.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.world import FORM, ISSUER, Credentials, Event, World, answer, http_event

REDIRECT_URI = "https://app.example.com/cb"
SCOPE = "openid offline_access profile"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1-4.2: a verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _header(response: dict[str, Any], name: str) -> list[str]:
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    values = [value for key, value in single.items() if key.lower() == name]
    return values + [value for key, listed in multi.items() if key.lower() == name for value in listed]


def _location(response: dict[str, Any], expected: str) -> str:
    """Where a redirect sends the browser, checked to carry the ``expected`` query parameter."""
    locations = _header(response, "location")
    if not locations or expected not in parse_qs(urlsplit(locations[0]).query):
        raise RuntimeError(f"the sign-in expected a redirect carrying {expected}, got {answer(response)} {locations}")
    return locations[0]


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""


def hidden_inputs(response: dict[str, Any]) -> dict[str, str]:
    """A page's hidden form fields (challenge, CSRF token), as a browser would submit them."""
    parser = _HiddenInputs()
    parser.feed(str(response.get("body") or ""))
    return parser.fields


@dataclass
class Browser:
    """Keeps cookies for the issuer, follows nothing by itself."""

    world: World
    cookies: dict[str, str] = field(default_factory=dict)

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def event(self, url: str) -> Event:
        """The GET of ``url`` with this browser's cookies, as API Gateway hands it over."""
        parts = urlsplit(url)
        return http_event("GET", parts.path, headers=self._headers(), query=parse_qs(parts.query))

    def form_event(self, path: str, fields: dict[str, str]) -> Event:
        """A form submitted from one of the pages."""
        return http_event("POST", path, headers={**self._headers(), "Content-Type": FORM}, body=urlencode(fields))

    def send(self, event: Event) -> dict[str, Any]:
        response = self.world.handle(event)
        for line in _header(response, "set-cookie"):
            name, _, value = line.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response

    def get(self, url: str) -> dict[str, Any]:
        return self.send(self.event(url))


@dataclass(frozen=True)
class Person:
    sub: str
    username: str
    password: str


def person(world: World) -> Person:
    """A user of the built-in store: the login page checks the password, userinfo reads the claims."""

    def create() -> Person:
        from chalicelib.admin import handle

        password = secrets.token_urlsafe(16)
        params = {"username": "bench", "password": password, "name": "Bench Person"}
        created = handle({"operation": "users.create", "params": params})["result"]
        return Person(str(created["user_id"]), "bench", password)

    return world.once("person", create)


@dataclass
class SignIn:
    """One person signing in to one client through the default pages, a step at a time."""

    world: World
    client: Credentials
    person: Person
    browser: Browser = field(init=False)
    verifier: str = field(init=False)

    def __post_init__(self) -> None:
        self.browser = Browser(self.world)
        self.verifier, challenge = pkce_pair()
        self._query = {
            "client_id": self.client.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(8),
        }

    def authorize_url(self) -> str:
        """Where the client sends the browser first."""
        return f"{ISSUER}/oauth2/auth?{urlencode(self._query)}"

    def login_page_url(self) -> str:
        return _location(self.browser.get(self.authorize_url()), "login_challenge")

    def login_submit(self) -> Event:
        fields = hidden_inputs(self.browser.get(self.login_page_url()))
        credentials = {"username": self.person.username, "password": self.person.password}
        return self.browser.form_event("/ui/login", {**fields, **credentials})

    def after_login_url(self) -> str:
        """What the login form answers, got the way the form gets it, minus the password check.

        scrypt costs a quarter of a second by design: only the "login submit" row pays it.
        """
        from chalicelib import services

        challenge = parse_qs(urlsplit(self.login_page_url()).query)["login_challenge"][0]
        return services.flows().accept_login(challenge, subject=self.person.sub, remember=True, amr=["pwd"])

    def consent_page_url(self) -> str:
        return _location(self.browser.get(self.after_login_url()), "consent_challenge")

    def consent_submit(self) -> Event:
        fields = hidden_inputs(self.browser.get(self.consent_page_url()))
        return self.browser.form_event("/ui/consent", {**fields, "decision": "allow"})

    def after_consent_url(self) -> str:
        """What the consent form's Allow answers, got the way the form gets it."""
        from chalicelib import services

        flows = services.flows()
        request = flows.consent_request(parse_qs(urlsplit(self.consent_page_url()).query)["consent_challenge"][0])
        return flows.accept_consent(
            request.challenge,
            grant_scope=request.requested_scope,
            grant_access_token_audience=request.requested_access_token_audience,
        )

    def code(self) -> str:
        """The authorization code the client's redirect URI receives."""
        location = _location(self.browser.get(self.after_consent_url()), "code")
        return parse_qs(urlsplit(location).query)["code"][0]


def web_client(world: World) -> Credentials:
    """A confidential web app: authorization code with PKCE, refresh tokens."""

    def register() -> Credentials:
        from chalicelib.admin import handle

        metadata = {
            "client_name": "bench-web",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT_URI],
            "scope": SCOPE,
        }
        result = handle({"operation": "clients.create", "params": metadata})["result"]
        return Credentials(result["client_id"], result["client_secret"])

    return world.once("web client", register)


def device_client(world: World) -> Credentials:
    """A public client on a device without a browser (RFC 8628): no secret, ``client_id`` in the body."""

    def register() -> Credentials:
        from chalicelib.admin import handle

        metadata = {
            "client_name": "bench-tv",
            "grant_types": [DEVICE_CODE_GRANT],
            "token_endpoint_auth_method": "none",
            "scope": SCOPE,
        }
        return Credentials(handle({"operation": "clients.create", "params": metadata})["result"]["client_id"], "")

    return world.once("device client", register)


def device_code(world: World, client: Credentials) -> str:
    """RFC 8628 §3.1-3.2: a fresh device code, nobody has answered yet."""
    issued = world.call(world.post("/oauth2/device/auth", {"scope": SCOPE}, client))
    if issued.status != 200:
        raise RuntimeError(f"the bench could not start a device authorization: {issued}")
    return str(issued.body["device_code"])


def sign_in(world: World, client: Credentials, someone: Person) -> tuple[str, str]:
    """A whole sign-in: an authorization code and its PKCE verifier."""
    flow = SignIn(world, client, someone)
    return flow.code(), flow.verifier


def code_exchange_params(code: str, verifier: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}


def signed_in_tokens(world: World, client: Credentials, someone: Person) -> dict[str, Any]:
    """What a code exchange answers: access, refresh and ID tokens."""
    code, verifier = sign_in(world, client, someone)
    issued = world.call(world.post("/oauth2/token", code_exchange_params(code, verifier), client))
    if issued.status != 200:
        raise RuntimeError(f"the bench could not exchange a code: {issued}")
    return dict(issued.body)
