"""A browser and a headless login app, for driving /oauth2/auth through Chalice's test client.

The "login app" answers challenges through ``services.flows()``: the same
operations the admin function exposes to a team's own login app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.conftest import DEVICE_GRANT, FORM, ISSUER, basic

REDIRECT_URI = "https://app.example.com/cb"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Browser:
    """Follows nothing by itself; keeps cookies like a browser would for one site."""

    http: Any
    cookies: dict[str, str] = field(default_factory=dict)

    def get(self, url: str) -> Any:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        response = self.http.get(path, headers=headers)
        self._keep(response.headers.get("Set-Cookie"))
        return response

    def _keep(self, set_cookie: Any) -> None:
        for line in [set_cookie] if isinstance(set_cookie, str) else set_cookie or []:
            pair, *attributes = line.split(";")
            name, _, value = pair.partition("=")
            if any(a.strip().lower() == "max-age=0" for a in attributes):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value


def authorize_url(client_id: str, **params: str) -> str:
    query = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT_URI, **params}
    return f"{ISSUER}/oauth2/auth?{urlencode(query)}"


def login_challenge(response: Any) -> str:
    assert response.status_code == 302, response.body
    return query_of(response.headers["Location"])["login_challenge"]


def consent_challenge(response: Any) -> str:
    assert response.status_code == 302, response.body
    return query_of(response.headers["Location"])["consent_challenge"]


def sign_in(
    browser: Browser, url: str, subject: str = "user-1", *, remember_login: bool = True, **consent: Any
) -> dict:
    """Authorization request → login → consent → the client's redirect; the redirect's query."""
    from chalicelib import services

    flows = services.flows()
    response = browser.get(url)
    location = response.headers.get("Location", "")
    if "login_challenge=" in location:
        redirect_to = flows.accept_login(
            login_challenge(response), subject=subject, remember=remember_login, amr=["pwd"]
        )
        response = browser.get(redirect_to)
        location = response.headers.get("Location", "")
    if "consent_challenge=" in location:
        challenge = consent_challenge(response)
        request = flows.consent_request(challenge)
        redirect_to = flows.accept_consent(
            challenge,
            grant_scope=consent.pop("grant_scope", request.requested_scope),
            grant_access_token_audience=consent.pop(
                "grant_access_token_audience", request.requested_access_token_audience
            ),
            **consent,
        )
        response = browser.get(redirect_to)
    assert response.status_code == 302, response.body
    return query_of(response.headers["Location"])


def exchange(http: Any, client: dict, code: str, verifier: str | None, **extra: str) -> Any:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    if verifier is not None:
        body["code_verifier"] = verifier
    return token_call(http, client, body)


def introspect(http: Any, client: dict, token: str) -> dict:
    """RFC 7662 as the client itself asks (client_secret_basic)."""
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    return json.loads(http.post("/oauth2/introspect", headers=headers, body=urlencode({"token": token})).body)


def token_call(http: Any, client: dict, body: dict) -> Any:
    headers = dict(FORM)
    if "client_secret" in client:
        headers["Authorization"] = basic(client["client_id"], client["client_secret"])
    else:
        body = {**body, "client_id": client["client_id"]}
    return http.post("/oauth2/token", headers=headers, body=urlencode(body))


def signed_in_tokens(
    http: Any, client: dict, scope: str, *, browser: Browser | None = None, subject: str = "user-1"
) -> dict:
    """A person signs in (the admin function accepts login and consent) and the client redeems the code."""
    verifier, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope=scope, code_challenge=challenge, code_challenge_method="S256")
    response = exchange(http, client, sign_in(browser or Browser(http), url, subject)["code"], verifier)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def refresh(http: Any, client: dict, refresh_token: str, **extra: str) -> Any:
    return token_call(http, client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra})


def error_of(response: Any) -> str:
    """The RFC 6749 §5.2 ``error`` code of a JSON error answer."""
    return json.loads(response.body)["error"]


def device_auth(http, client, **extra):
    body = urlencode({"client_id": client["client_id"], "scope": "openid offline_access", **extra})
    return http.post("/oauth2/device/auth", headers=FORM, body=body)


def poll(http, client, device_code):
    body = urlencode({"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client["client_id"]})
    return http.post("/oauth2/token", headers=FORM, body=body)


def post_token(http, body, *, client=None, headers=None):
    merged = {**FORM, **(headers or {})}
    if client is not None:
        merged["Authorization"] = basic(client["client_id"], client["client_secret"])
    payload = body if isinstance(body, str) else urlencode(body, doseq=True)
    return http.post("/oauth2/token", headers=merged, body=payload)


def opaque_app(register: Any, scope: str) -> dict:
    """A code-flow client whose access tokens are opaque (looked up, not verified)."""
    return register(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope=scope,
        access_token_strategy="opaque",
    )


def code_for(browser: Browser, client: dict, scope: str, subject: str = "user-1") -> tuple[str, str]:
    """A signed-in person's authorization code and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    url = authorize_url(client["client_id"], scope=scope, code_challenge=challenge, code_challenge_method="S256")
    return sign_in(browser, url, subject)["code"], verifier
