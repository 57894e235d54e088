"""Sign-ins, for the scenarios that need what one leaves behind: a code, a refresh token, an access token.

The person's side is played headless, the way a team's own login app plays
it (DESIGN §4): ``/oauth2/auth`` is called through the handler as a browser
would call it (cookies kept), and the login and consent challenges are
accepted through ``services.flows()``, the operations the admin function
exposes.  All of it is preparation: untimed and uncounted.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.world import ISSUER, Credentials, Event, World, answer, http_event

REDIRECT_URI = "https://app.example.com/cb"
SCOPE = "openid offline_access profile"


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


def _redirect_query(response: dict[str, Any], expected: str) -> dict[str, str]:
    locations = _header(response, "location")
    query = {k: v[0] for k, v in parse_qs(urlsplit(locations[0]).query).items()} if locations else {}
    if expected not in query:
        raise RuntimeError(f"the sign-in expected a redirect carrying {expected}, got {answer(response)} {locations}")
    return query


@dataclass
class Browser:
    """Keeps cookies for the issuer, follows nothing by itself."""

    world: World
    cookies: dict[str, str] = field(default_factory=dict)

    def event(self, url: str) -> Event:
        """The GET of ``url`` with this browser's cookies, as API Gateway hands it over."""
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        return http_event("GET", parts.path, headers=headers, query=query)

    def get(self, url: str) -> dict[str, Any]:
        response = self.world.handle(self.event(url))
        for line in _header(response, "set-cookie"):
            name, _, value = line.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response


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


def person(world: World) -> str:
    """A user of the built-in store (userinfo reads it); their ``sub``."""

    def create() -> str:
        from chalicelib.admin import handle

        params = {"username": "bench", "password": secrets.token_urlsafe(16), "name": "Bench Person"}
        return str(handle({"operation": "users.create", "params": params})["result"]["user_id"])

    return world.once("person", create)


@dataclass
class SignIn:
    """One person signing in to one client, a step at a time, headless (DESIGN §4).

    Each method plays the steps before it and answers the URL the browser is
    sent to next, so a scenario can time any single step of a sign-in.
    """

    world: World
    client: Credentials
    subject: str
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

    def after_login_url(self) -> str:
        """The authorization request, then login accepted: back to ``/oauth2/auth`` with a login verifier."""
        from chalicelib import services

        login = _redirect_query(self.browser.get(self.authorize_url()), "login_challenge")["login_challenge"]
        return services.flows().accept_login(login, subject=self.subject, amr=["pwd"])

    def after_consent_url(self) -> str:
        """... then consent accepted: back to ``/oauth2/auth`` with a consent verifier."""
        from chalicelib import services

        flows = services.flows()
        after_login = self.browser.get(self.after_login_url())
        challenge = _redirect_query(after_login, "consent_challenge")["consent_challenge"]
        request = flows.consent_request(challenge)
        return flows.accept_consent(
            challenge,
            grant_scope=request.requested_scope,
            grant_access_token_audience=request.requested_access_token_audience,
        )

    def code(self) -> str:
        """... and the authorization code the client's redirect URI receives."""
        return _redirect_query(self.browser.get(self.after_consent_url()), "code")["code"]


def sign_in(world: World, client: Credentials, subject: str) -> tuple[str, str]:
    """A whole sign-in: an authorization code and its PKCE verifier."""
    flow = SignIn(world, client, subject)
    return flow.code(), flow.verifier


def code_exchange_params(code: str, verifier: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}


def signed_in_tokens(world: World, client: Credentials, subject: str) -> dict[str, Any]:
    """What a code exchange answers: access, refresh and ID tokens."""
    code, verifier = sign_in(world, client, subject)
    issued = world.call(world.post("/oauth2/token", code_exchange_params(code, verifier), client))
    if issued.status != 200:
        raise RuntimeError(f"the bench could not exchange a code: {issued}")
    return dict(issued.body)
