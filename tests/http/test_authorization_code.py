"""The authorization endpoint's error page over Chalice (RFC 6749 §4.1.2.1: never redirect to an unverified URI).

The flow's rules (PKCE, redirect URIs, codes, consent): tests/unit/test_authorization_code_flow.py."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.oauth_flow import REDIRECT_URI

SCOPE = "openid offline_access profile email"


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "unknown"},
        {"redirect_uri": "https://evil.example.com/cb"},
        {"redirect_uri": REDIRECT_URI + "/extra"},
        {"client_id": None},
    ],
)
def test_unknown_client_or_unregistered_redirect_uri_shows_a_page_and_never_redirects(http, web_app, params):
    query = {"client_id": web_app["client_id"], "response_type": "code", "redirect_uri": REDIRECT_URI, **params}
    response = http.get("/oauth2/auth?" + urlencode({k: v for k, v in query.items() if v is not None}))
    assert response.status_code in (400, 403) and "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
