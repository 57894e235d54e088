"""A person signing in through the default pages, then the client redeeming the code and refreshing.

Drives the real HTTP surface over Chalice's test client: ``/oauth2/auth`` ->
``/ui/login`` (form with CSRF token and cookie, username and password) ->
``/ui/consent`` (Allow) -> the client's redirect -> ``/oauth2/token`` twice.
Returns every secret that travelled, so a test can look for them elsewhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import urlencode

from tests.conftest import FORM, ISSUER
from tests.oauth_flow import Browser, authorize_url, exchange, pkce_pair, query_of, token_call

SCOPE = "openid offline_access"


@dataclass
class SignedIn:
    tokens: dict[str, Any]
    refreshed: dict[str, Any]
    secrets: list[str] = field(default_factory=list)


def _hidden(body: Any, name: str) -> str:
    text = body.decode() if isinstance(body, bytes) else str(body)
    match = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert match, f"no hidden field {name}"
    return unescape(match.group(1))


def _submit(browser: Browser, url: str, **fields: str) -> tuple[Any, str]:
    """GET a default page and POST its form back with the page's CSRF token and cookies."""
    csrf = _hidden(browser.get(url).body, "csrf_token")
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    path = url.split("?")[0].removeprefix(ISSUER)
    answer = browser.http.post(path, headers={**FORM, "Cookie": cookie}, body=urlencode({**fields, "csrf_token": csrf}))
    browser._keep(answer.headers.get("Set-Cookie"))
    return answer, csrf


def sign_in_through_pages(http: Any, client: dict[str, Any], username: str, password: str) -> SignedIn:
    browser = Browser(http)
    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"], scope=SCOPE, state="st", nonce="n", code_challenge=challenge, code_challenge_method="S256"
    )
    login = browser.get(url).headers["Location"]
    challenge_id = query_of(login)["login_challenge"]
    answer, login_csrf = _submit(browser, login, login_challenge=challenge_id, username=username, password=password)
    consent = browser.get(answer.headers["Location"]).headers["Location"]
    answer, consent_csrf = _submit(
        browser, consent, consent_challenge=query_of(consent)["consent_challenge"], decision="allow"
    )
    code = query_of(browser.get(answer.headers["Location"]).headers["Location"])["code"]
    tokens = json.loads(exchange(http, client, code, verifier).body)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    refreshed = json.loads(token_call(http, client, refresh).body)
    travelled = [password, code, verifier, login_csrf, consent_csrf, *browser.cookies.values()]
    travelled += [tokens[name] for name in ("access_token", "refresh_token", "id_token")]
    travelled += [refreshed[name] for name in ("access_token", "refresh_token")]
    return SignedIn(tokens, refreshed, [secret for secret in travelled if secret])
