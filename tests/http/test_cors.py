"""CORS (WHATWG Fetch §3.2) through the Chalice app: who may read which answer from a browser script.

Discovery and JWKS are public; the token, revocation, device authorization and
userinfo endpoints answer only the origins of the client the request names;
the authorization endpoint, introspection and the pages never answer CORS.
Browsers enforce it (tests/e2e/test_browser_flows.py); here the headers themselves.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from chalicelib.oauth.cors import origin_of
from tests.conftest import FORM, ISSUER, basic
from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, exchange, pkce_pair, sign_in

SPA_ORIGIN = "https://app.example.com"  # the origin of tests.oauth_flow.REDIRECT_URI
EXTRA_ORIGIN = "https://admin.example.com"
EVIL = "https://evil.example"
CLIENT_ENDPOINTS = {
    "/oauth2/token": "POST",
    "/oauth2/revoke": "POST",
    "/oauth2/device/auth": "POST",
    "/userinfo": "GET, POST",
}
ACAO = "Access-Control-Allow-Origin"

pytestmark = pytest.mark.usefixtures("refresh_anytime")  # tests of who may read answers, not of refresh pace


@pytest.fixture
def spa(register):
    return register(
        client_name="SPA",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile offline_access",
        token_endpoint_auth_method="none",
        allowed_cors_origins=[EXTRA_ORIGIN],
    )


def signed_in(http, client) -> dict:
    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"], scope=client["scope"], code_challenge=challenge, code_challenge_method="S256"
    )
    code = sign_in(Browser(http), url)["code"]
    response = exchange(http, client, code, verifier)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def from_origin(origin: str) -> dict[str, str]:
    return {**FORM, "Origin": origin}


def refresh(http, client, refresh_token: str, origin: str):
    body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client["client_id"]})
    return http.post("/oauth2/token", headers=from_origin(origin), body=body)


def assert_never_credentials(response) -> None:
    assert "Access-Control-Allow-Credentials" not in response.headers


# --- public documents ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"]
)
def test_discovery_and_jwks_are_readable_from_any_origin(http, path):
    response = http.get(path, headers={"Origin": EVIL})
    assert response.status_code == 200
    assert response.headers[ACAO] == "*"
    assert_never_credentials(response)
    preflight = http.options(path, headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    assert preflight.headers[ACAO] == "*"


# --- preflight ------------------------------------------------------------------------


@pytest.mark.parametrize("path, methods", CLIENT_ENDPOINTS.items())
def test_preflight_allows_the_endpoints_methods_and_headers_and_costs_no_aws_call(http, aws, path, methods):
    headers = {
        "Origin": EVIL,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    response = http.options(path, headers=headers)
    assert response.status_code == 204
    assert response.body == b""
    assert response.headers[ACAO] == EVIL
    assert response.headers["Access-Control-Allow-Methods"] == methods
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert response.headers["Vary"] == "Origin"
    assert_never_credentials(response)
    assert aws.count == 0, aws.calls


@pytest.mark.parametrize("origin", ["null", "https://a.example\r\nSet-Cookie: x=1", "https://a.example/path", "*"])
def test_preflight_never_echoes_a_null_or_malformed_origin(http, origin):
    response = http.options("/oauth2/token", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert ACAO not in response.headers


# --- the token endpoint --------------------------------------------------------------


def test_spa_origin_reads_its_code_exchange_and_refresh(http, spa):
    verifier, challenge = pkce_pair()
    url = authorize_url(spa["client_id"], scope=spa["scope"], code_challenge=challenge, code_challenge_method="S256")
    code = sign_in(Browser(http), url)["code"]
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    response = http.post(
        "/oauth2/token", headers=from_origin(SPA_ORIGIN), body=urlencode({**body, "client_id": spa["client_id"]})
    )
    assert response.status_code == 200, response.body
    assert response.headers[ACAO] == SPA_ORIGIN
    assert response.headers["Vary"] == "Origin"
    assert_never_credentials(response)

    refreshed = refresh(http, spa, json.loads(response.body)["refresh_token"], EXTRA_ORIGIN)
    assert refreshed.status_code == 200, refreshed.body
    assert refreshed.headers[ACAO] == EXTRA_ORIGIN
    assert_never_credentials(refreshed)


def test_another_origin_cannot_read_the_token_response(http, spa):
    tokens = signed_in(http, spa)
    response = refresh(http, spa, tokens["refresh_token"], EVIL)
    assert response.status_code == 200  # CORS hides the answer from a browser; it is no access control
    assert ACAO not in response.headers
    assert response.headers["Vary"] == "Origin"


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com.evil.example",
        "https://app.example.co",
        "https://app.example.com:443",
        "HTTPS://APP.EXAMPLE.COM",
        "http://app.example.com",
        "https://app.example.com/",
        "null",
    ],
)
def test_origins_are_compared_exactly_never_by_prefix(http, spa, origin):
    tokens = signed_in(http, spa)
    response = refresh(http, spa, tokens["refresh_token"], origin)
    assert response.status_code == 200
    assert ACAO not in response.headers


def test_the_clients_origin_reads_its_errors(http, spa):
    response = refresh(http, spa, "tg_rt_not-a-real-token", SPA_ORIGIN)
    assert response.status_code == 400
    assert json.loads(response.body)["error"] == "invalid_grant"
    assert response.headers[ACAO] == SPA_ORIGIN


def test_a_failed_client_authentication_is_readable_by_no_origin(http, spa):
    for client_id in ("no-such-client", spa["client_id"]):
        headers = {**from_origin(SPA_ORIGIN), "Authorization": basic(client_id, "wrong")}
        response = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "refresh_token"}))
        assert response.status_code == 401
        assert ACAO not in response.headers


def test_a_client_is_not_readable_from_another_clients_origin(http, spa, register):
    other = register(redirect_uris=["https://other.example.com/cb"], grant_types=["client_credentials"], scope="a")
    headers = {**from_origin(SPA_ORIGIN), "Authorization": basic(other["client_id"], other["client_secret"])}
    response = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
    assert response.status_code == 200
    assert ACAO not in response.headers


# --- userinfo, revocation, device authorization -----------------------------------------


def test_userinfo_is_readable_by_the_tokens_client_origin_only(http, spa):
    bearer = {"Authorization": f"Bearer {signed_in(http, spa)['access_token']}"}
    allowed = http.get("/userinfo", headers={**bearer, "Origin": SPA_ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers[ACAO] == SPA_ORIGIN
    assert "WWW-Authenticate" in allowed.headers["Access-Control-Expose-Headers"]
    assert_never_credentials(allowed)
    assert ACAO not in http.get("/userinfo", headers={**bearer, "Origin": EVIL}).headers
    invalid = http.get("/userinfo", headers={"Authorization": "Bearer nope", "Origin": SPA_ORIGIN})
    assert invalid.status_code == 401
    assert ACAO not in invalid.headers  # no token, no client: nobody's origin


def test_revocation_is_readable_by_the_clients_origin_only(http, spa):
    tokens = signed_in(http, spa)
    body = urlencode({"token": tokens["refresh_token"], "client_id": spa["client_id"]})
    assert ACAO not in http.post("/oauth2/revoke", headers=from_origin(EVIL), body=body).headers
    response = http.post("/oauth2/revoke", headers=from_origin(SPA_ORIGIN), body=body)
    assert response.status_code == 200
    assert response.headers[ACAO] == SPA_ORIGIN


def test_device_authorization_is_readable_by_the_allowed_cors_origins(http, register):
    tv = register(
        grant_types=["urn:ietf:params:oauth:grant-type:device_code"],
        scope="openid",
        token_endpoint_auth_method="none",
        allowed_cors_origins=["https://tv.example.com"],
    )
    body = urlencode({"client_id": tv["client_id"]})
    response = http.post("/oauth2/device/auth", headers=from_origin("https://tv.example.com"), body=body)
    assert response.status_code == 200
    assert response.headers[ACAO] == "https://tv.example.com"
    assert ACAO not in http.post("/oauth2/device/auth", headers=from_origin(EVIL), body=body).headers


# --- endpoints that never answer CORS ---------------------------------------------------


def test_authorization_endpoint_pages_and_introspection_never_answer_cors(http, spa, register):
    _, challenge = pkce_pair()
    url = authorize_url(spa["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    login = http.get(url.removeprefix(ISSUER), headers={"Origin": SPA_ORIGIN})
    login_page = http.get(login.headers["Location"].removeprefix(ISSUER), headers={"Origin": SPA_ORIGIN})
    machine = register(grant_types=["client_credentials"], scope="a", allowed_cors_origins=[SPA_ORIGIN])
    introspection = http.post(
        "/oauth2/introspect",
        headers={**from_origin(SPA_ORIGIN), "Authorization": basic(machine["client_id"], machine["client_secret"])},
        body=urlencode({"token": "x"}),
    )
    # No OPTIONS route either: API Gateway refuses their preflight (tests/e2e/test_packaging.py checks the template).
    for response in [login, login_page, introspection]:
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], response.headers


# --- origin of a redirect URI, as a browser serializes it -----------------------------------


@pytest.mark.parametrize(
    "uri, origin",
    [
        ("https://app.example.com/cb", "https://app.example.com"),
        ("https://App.Example.COM:443/cb?x=1", "https://app.example.com"),
        ("https://app.example.com:8443/cb", "https://app.example.com:8443"),
        ("http://127.0.0.1:3000/cb", "http://127.0.0.1:3000"),
        ("http://127.0.0.1:80/cb", "http://127.0.0.1"),
        ("http://[::1]:8080/cb", "http://[::1]:8080"),
        ("com.example.app:/cb", None),  # a native app's private-use scheme has no web origin
        ("https://app.example.com\\@evil.example/cb", None),  # WHATWG: "\" ends the host; Python disagrees
        ("https://user@app.example.com/cb", None),
        ("https://app.example.com:99999/cb", None),
        ("https:///cb", None),
    ],
)
def test_origin_of_a_redirect_uri_is_what_a_browser_sends(uri, origin):
    assert origin_of(uri) == origin


def test_adding_cors_headers_keeps_every_other_part_of_the_answer():
    """Status, body, headers, cookies and error code (every field of the protocol response) survive the CORS step."""
    from dataclasses import fields

    from chalicelib.oauth.clients import Client
    from chalicelib.oauth.cors import for_client
    from chalicelib.oauth.http import Response
    from chalicelib.oauth.request import Params, Request

    answer = Response(
        401, '{"error":"invalid_client"}', {"WWW-Authenticate": "Basic"}, ("a=1", "b=2"), "invalid_client"
    )
    fields_kept = {"status", "body", "headers", "cookies", "error"}
    assert {f.name for f in fields(Response)} == fields_kept, "a new field: keep it in cors._with_headers too"
    request = Request("POST", "/oauth2/token", {"origin": "https://app.example"}, Params({}))
    client = Client(client_id="c", allowed_cors_origins=("https://app.example",))
    readable = for_client(request, answer, client)
    kept = (readable.status, readable.body, readable.cookies, readable.error)
    assert kept == (answer.status, answer.body, answer.cookies, answer.error)
    assert readable.headers == {
        "WWW-Authenticate": "Basic",
        "Vary": "Origin",
        "Access-Control-Allow-Origin": "https://app.example",
        "Access-Control-Expose-Headers": "WWW-Authenticate",
    }
