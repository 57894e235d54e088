"""Bounded input: no body over 64 KiB is read, no parameter value is unbounded (RFC 6749 §4.1.2.1, §5.2).

Every value a request carries can reach the state table, a page or a log;
a 1 MB ``state`` or ``client_id`` must be refused with ``invalid_request``,
not stored, echoed or sent to DynamoDB (whose keys stop at 2 KB).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.conftest import FORM, basic
from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, pkce_pair, query_of

LIMIT = 64 * 1024


@pytest.fixture
def client(register):
    return register(
        client_name="Web app",
        grant_types=["authorization_code", "client_credentials"],
        redirect_uris=[REDIRECT_URI],
        scope="openid",
    )


def padded_form(size: int) -> str:
    """A well-formed form body of exactly ``size`` bytes."""
    head = "grant_type=client_credentials&padding="
    return head + "x" * (size - len(head))


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/device/auth"])
def test_a_body_over_64_kib_gets_413_invalid_request_json_without_touching_storage(http, aws, client, path):
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
    aws.reset()
    response = http.post(path, headers={**FORM, **auth}, body=padded_form(LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body)["error"] == "invalid_request"
    assert aws.count == 0  # refused before the client was even looked up


def test_a_body_of_exactly_64_kib_is_read(http, client):
    auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
    response = http.post("/oauth2/token", headers={**FORM, **auth}, body=padded_form(LIMIT))
    assert response.status_code == 200


def test_a_declared_content_length_over_64_kib_is_refused_whatever_arrived(http, client):
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    response = http.post("/oauth2/token", headers={**headers, "Content-Length": str(LIMIT + 1)}, body="a=b")
    assert response.status_code == 413 and json.loads(response.body)["error"] == "invalid_request"


@pytest.mark.parametrize("path", ["/ui/login", "/ui/consent", "/oauth2/device/verify", "/oauth2/sessions/logout"])
def test_a_form_page_refuses_a_body_over_64_kib_with_a_page(http, aws, path):
    aws.reset()
    response = http.post(path, headers=FORM, body=padded_form(LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "64 KiB" in response.body.decode()
    assert aws.count == 0


def start(client, **params) -> str:
    _, challenge = pkce_pair()
    query = {"code_challenge": challenge, "code_challenge_method": "S256", "state": "s", **params}
    return authorize_url(client["client_id"], **query)


@pytest.mark.parametrize(("name", "limit"), [("state", 512), ("nonce", 512), ("login_hint", 256), ("scope", 2048)])
def test_an_overlong_parameter_is_invalid_request_at_the_authorization_endpoint(http, client, name, limit):
    browser = Browser(http)
    at_limit = "openid" + " x" * ((limit - 6) // 2) if name == "scope" else "é" * (limit // 2)  # é: 2 bytes
    over = at_limit + "a"
    accepted = browser.get(start(client, **{name: at_limit}))
    assert accepted.status_code == 302 and query_of(accepted.headers["Location"]).get("error") != "invalid_request"
    refused = browser.get(start(client, **{name: over}))
    assert refused.status_code == 302  # the client and redirect_uri are known: the error goes back to it
    answer = query_of(refused.headers["Location"])
    assert answer["error"] == "invalid_request" and name in answer["error_description"]
    assert refused.headers["Location"].startswith(REDIRECT_URI)


@pytest.mark.parametrize(("name", "limit"), [("client_id", 256), ("redirect_uri", 2048)])
def test_an_overlong_client_id_or_redirect_uri_gets_the_error_page(http, client, name, limit):
    url = start(client)
    value = "a" * (limit + 1) if name == "client_id" else REDIRECT_URI + "?" + "a" * limit
    url = url.replace(urlencode({name: client["client_id"] if name == "client_id" else REDIRECT_URI}), "") + "&"
    response = Browser(http).get(url + urlencode({name: value}))
    assert response.status_code == 400 and "Location" not in response.headers
    assert f"longer than {limit} bytes" in response.body.decode()


def test_an_overlong_client_id_at_the_token_endpoint_is_invalid_request(http, client):
    body = urlencode({"grant_type": "client_credentials", "client_id": "c" * 3000})
    response = http.post("/oauth2/token", headers=FORM, body=body)
    assert response.status_code == 400 and json.loads(response.body)["error"] == "invalid_request"
    response = http.post("/oauth2/token", headers={**FORM, "Authorization": basic("c" * 3000, "s")}, body=body[:30])
    assert response.status_code == 400 and json.loads(response.body)["error"] == "invalid_request"


def test_an_overlong_post_logout_redirect_uri_is_refused_with_a_page(http):
    query = urlencode({"post_logout_redirect_uri": "https://app.example.com/" + "a" * 2048})
    response = http.get(f"/oauth2/sessions/logout?{query}")
    assert response.status_code == 400 and "longer than 2048 bytes" in response.body.decode()
