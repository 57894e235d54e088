"""Input the caller controls answers 4xx, never 500, and oversized keys never reach DynamoDB (RFC 6749 §5.2).

DynamoDB refuses a partition key over 2048 bytes with a ValidationException;
an overlong client id or username must be refused before any call, and any
such refusal that still happens becomes ``invalid_request`` rather than a 500.
moto 5.2 raises DynamoDB's exact ValidationException ("Size of hashkey has
exceeded the maximum size limit of2048 bytes") on PutItem, UpdateItem and
TransactWriteItems, but not on GetItem, DeleteItem or Query, so the net is
tested with writes.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from chalicelib import services
from chalicelib.oauth import users
from tests.conftest import FORM, basic
from tests.http.test_ui_pages import hidden
from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, pkce_pair

HUGE_ID = "c" * 2100  # over DynamoDB's 2048-byte partition key


def is_page(response, status: int) -> bool:
    return response.status_code == status and response.headers["Content-Type"] == "text/html; charset=utf-8"


# --- a parameter read once, repeated -----------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "/oauth2/auth?login_verifier=a&login_verifier=b",
        "/oauth2/auth?consent_verifier=a&consent_verifier=a",
        "/oauth2/device/verify?device_verifier=a&device_verifier=b",
        "/oauth2/device/verify?device=connected&device=connected",
        "/oauth2/device/verify?error=expired_token&error=x",
        "/oauth2/device/verify?user_code=BCDF-GHJK&user_code=BCDF-GHJK",
        "/ui/login?login_challenge=a&login_challenge=b",
        "/ui/consent?consent_challenge=a&consent_challenge=b",
    ],
)
def test_a_repeated_parameter_read_once_is_a_400_page(http, query):
    response = http.get(query)
    assert is_page(response, 400) and "Location" not in response.headers
    assert "is repeated" in response.body.decode()


# --- client_id over 2 KiB: refused before DynamoDB ----------------------------------------------


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/device/auth"])
def test_a_client_id_over_2_kib_is_refused_in_rfc_shape_before_any_aws_call(http, aws, path):
    form = {"grant_type": "client_credentials", "token": "x"}
    sent = [
        ({**FORM}, {**form, "client_id": HUGE_ID}),
        ({**FORM}, {**form, "client_id": HUGE_ID, "client_secret": "s"}),
        ({**FORM, "Authorization": basic(HUGE_ID, "s")}, form),
    ]
    for headers, body in sent:
        aws.reset()
        response = http.post(path, headers=headers, body=urlencode(body))
        answer = json.loads(response.body)
        assert response.status_code in (400, 401) and answer["error"] in ("invalid_request", "invalid_client")
        assert set(answer) == {"error", "error_description"} and HUGE_ID not in response.body.decode()
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert aws.count == 0, aws.calls


@pytest.mark.parametrize("path", ["/oauth2/auth", "/oauth2/sessions/logout"])
def test_a_client_id_over_2_kib_in_the_query_is_a_400_page_before_any_aws_call(http, aws, path):
    aws.reset()
    response = http.get(f"{path}?{urlencode({'client_id': HUGE_ID, 'response_type': 'code'})}")
    assert is_page(response, 400) and "Location" not in response.headers
    assert aws.count == 0, aws.calls


# --- usernames that cannot exist ------------------------------------------------------------------


@pytest.fixture
def login_form(http, register, monkeypatch):
    """The login page of a fresh sign-in: post(username) answers as the form would."""
    client = register(redirect_uris=[REDIRECT_URI], scope="openid")
    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))
    users._decoy_hash.cache_clear()
    browser = Browser(http)
    _, challenge = pkce_pair()
    url = authorize_url(client["client_id"], code_challenge=challenge, code_challenge_method="S256")
    page = browser.get(browser.get(url).headers["Location"])
    fields = {name: hidden(page.body.decode(), name) for name in ("login_challenge", "csrf_token")}
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())

    def post(username: str):
        body = urlencode({**fields, "username": username, "password": "a password"})
        return http.post("/ui/login", headers={**FORM, "Cookie": cookie}, body=body)

    yield post
    users._decoy_hash.cache_clear()


@pytest.mark.parametrize("username", ["u" * 2100, "é" * 1100, "u" * 129, "ada\x00", "ada\r\nx"])
def test_a_username_no_user_can_have_fails_like_a_wrong_password_without_touching_dynamodb(login_form, aws, username):
    aws.reset()
    response = login_form(username)
    assert response.status_code == 200 and "Wrong username or password." in response.body.decode()
    # Only the challenge's own attempt count (the write that reads it): no Query for the name, no
    # per-person counter keyed by it.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1}


# --- the net: DynamoDB's key-size refusal is the caller's invalid_request ------------------------


def test_an_admin_operation_naming_an_oversized_key_answers_invalid_request(aws):
    from chalicelib.admin import handle

    answer = handle({"operation": "users.sign_out", "params": {"user_id": HUGE_ID}})
    assert answer["error"] == "invalid_request" and HUGE_ID not in answer.get("error_description", "")


@pytest.fixture
def net_app(aws):
    """A Chalice app whose routes go through Tollgate's adapter into the real state store on moto."""
    from chalice import Chalice
    from chalice.test import Client

    from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

    app = Chalice(app_name="net")

    def count(request):  # one UpdateItem with the raw query value as the key, as a careless endpoint might
        services.state_store().increment("net", request.query.get("key") or "k", create_until=int(time.time()) + 60)
        raise RuntimeError("not a storage refusal")

    @app.route("/json", methods=["GET"], content_types=ANY_CONTENT_TYPE)
    def json_route():
        return respond(app.current_request, count)

    @app.route("/page", methods=["GET"], content_types=ANY_CONTENT_TYPE)
    def page_route():
        return respond(app.current_request, count, page=True)

    with Client(app) as test_client:
        yield test_client.http


def test_an_oversized_key_refused_by_dynamodb_is_400_invalid_request_json_or_page(net_app):
    response = net_app.get(f"/json?{urlencode({'key': 'k' * 2100})}")
    assert response.status_code == 400 and json.loads(response.body)["error"] == "invalid_request"
    page = net_app.get(f"/page?{urlencode({'key': 'k' * 2100})}")
    assert is_page(page, 400) and "invalid_request" in page.body.decode()


def test_the_net_catches_only_oversized_keys_anything_else_is_still_a_500(net_app):
    response = net_app.get("/json?key=small")
    assert response.status_code == 500 and json.loads(response.body)["error"] == "server_error"
    assert is_page(net_app.get("/page?key=small"), 500)
