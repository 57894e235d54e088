"""No variant of a registered redirect URI gets a redirect from the authorization endpoint (RFC 6749 §3.1.2.4).

The variants and the matching rule itself: tests/unit/test_redirect_uris.py.
"""

from __future__ import annotations

from urllib.parse import quote

from tests.oauth_flow import Browser, authorize_url, pkce_pair
from tests.unit.test_redirect_uris import NEVER_REDIRECTED, REGISTERED


def test_no_variant_gets_a_redirect_from_the_authorization_endpoint(register, http):
    client = register(
        grant_types=["authorization_code"],
        redirect_uris=list(REGISTERED),
        token_endpoint_auth_method="none",
        scope="openid",
    )
    browser = Browser(http)
    _, challenge = pkce_pair()
    redirected = []
    for requested in NEVER_REDIRECTED:
        url = authorize_url(client["client_id"], code_challenge=challenge, code_challenge_method="S256")
        url = url.replace(quote("https://app.example.com/cb", safe=""), quote(requested, safe=""))
        response = browser.get(url)
        if response.status_code != 400 or "Location" in response.headers:
            redirected.append((requested, response.status_code, response.headers.get("Location")))
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert redirected == []
    # The same request with a registered loopback URI on another port does go on (to the login app).
    url = authorize_url(client["client_id"], code_challenge=challenge, code_challenge_method="S256")
    url = url.replace(quote("https://app.example.com/cb", safe=""), quote("http://127.0.0.1:9999/callback", safe=""))
    assert "login_challenge=" in browser.get(url).headers["Location"]
