"""End to end over real HTTP: an OpenID Connect client library signs a person in through the default pages.

The client side is Authlib's (an independent, widely used OIDC client): it
builds the PKCE authorization request, redeems the code, and validates the
ID token with its own OIDC Core §3.1.3.7 rules (``CodeIDToken``: iss, aud,
exp, iat, nonce, at_hash, auth_time).  The person's side is plain HTTP
against the real local stack: the login form, the consent form, redirects.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from infra.local import Stack, local_stack
from tests import e2e_http

pytestmark = pytest.mark.e2e
REDIRECT_URI = "https://app.example.com/callback"
REFRESH_MIN_INTERVAL = 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REFRESH_MIN_INTERVAL", str(REFRESH_MIN_INTERVAL))  # the stack inherits it: a short wait
        with local_stack(0, 0, Path(tmp_path_factory.mktemp("oidc")), output=subprocess.DEVNULL) as running:
            yield running


def cli(stack: Stack, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", *args], env=stack.env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def hidden_fields(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', html)}


def submit(person: requests.Session, url: str, **fields: str) -> requests.Response:
    page = person.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    data = {**hidden_fields(page.text), **fields}
    return person.post(url.split("?")[0], data=data, allow_redirects=False, timeout=10)


def follow(person: requests.Session, response: requests.Response, stop_at: str) -> str:
    """Follow redirects by hand until one leaves the issuer for ``stop_at``."""
    while response.status_code in (302, 303):
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(stop_at):
            return location
        response = person.get(location, allow_redirects=False, timeout=10)
    return response.url


def test_oidc_client_library_signs_in_validates_the_id_token_refreshes_and_reads_userinfo(stack: Stack) -> None:
    client = cli(
        stack,
        "clients",
        "create",
        "--json",
        json.dumps(
            {
                "client_name": "Notes",
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": [REDIRECT_URI],
                "scope": "openid profile email offline_access",
            }
        ),
    )
    user = cli(stack, "users", "create", "--username", "grace", "--password", "hopper-1906-cobol", "--email", "g@x.org")
    meta = e2e_http.get(f"{stack.issuer}/.well-known/openid-configuration").json()
    oauth = e2e_http.without_keep_alive(
        OAuth2Session(
            client["client_id"],
            client["client_secret"],
            scope="openid profile email offline_access",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
        )
    )
    verifier = "v" * 20 + "-verifier-" + "w" * 30
    url, state = oauth.create_authorization_url(meta["authorization_endpoint"], nonce="n-0S6", code_verifier=verifier)

    person = e2e_http.without_keep_alive(requests.Session())
    login_page = follow(person, person.get(url, allow_redirects=False, timeout=10), f"{stack.issuer}/ui/login")
    after_login = submit(person, login_page, username="grace", password="hopper-1906-cobol")
    consent_page = follow(person, after_login, f"{stack.issuer}/ui/consent")
    after_consent = submit(person, consent_page, decision="allow")
    callback = follow(person, after_consent, REDIRECT_URI)

    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state, timeout=10
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authlib.jose's deprecation notice
        from authlib.jose import JsonWebKey
        from authlib.jose import jwt as authlib_jwt
        from authlib.oidc.core import CodeIDToken

        keys = JsonWebKey.import_key_set(e2e_http.get(meta["jwks_uri"]).json())
        claims = authlib_jwt.decode(
            token["id_token"],
            keys,
            claims_cls=CodeIDToken,
            claims_options={"iss": {"value": meta["issuer"]}},
            claims_params={"nonce": "n-0S6", "client_id": client["client_id"], "access_token": token["access_token"]},
        )
        claims.validate()
    assert claims["sub"] == user["user_id"] and claims["amr"] == ["pwd"]

    info = oauth.get(meta["userinfo_endpoint"], timeout=10).json()
    assert info["sub"] == user["user_id"] and info["email"] == "g@x.org" and info["preferred_username"] == "grace"

    time.sleep(REFRESH_MIN_INTERVAL + 0.1)  # a refresh token is usable REFRESH_MIN_INTERVAL after its issue
    refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"], timeout=10)
    assert refreshed["refresh_token"] != token["refresh_token"]
