"""RFC 6749 §2.3 client authentication at the token endpoint."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus, urlencode

import pytest

from tests.conftest import FORM, basic

GRANT = {"grant_type": "client_credentials"}


def token(http, body, headers=None):
    return http.post("/oauth2/token", headers={**FORM, **(headers or {})}, body=urlencode(body))


def error(response):
    return json.loads(response.body)["error"]


@pytest.fixture
def basic_client(register):
    return register(grant_types=["client_credentials"], scope="a")


@pytest.fixture
def post_client(register):
    return register(grant_types=["client_credentials"], scope="a", token_endpoint_auth_method="client_secret_post")


def test_client_secret_basic_authenticates(http, basic_client):
    response = token(http, GRANT, {"Authorization": basic(basic_client["client_id"], basic_client["client_secret"])})
    assert response.status_code == 200


def test_basic_credentials_are_form_decoded_before_comparison(http, basic_client):
    # §2.3.1: id and secret are form-urlencoded, then base64'd.
    encoded = f"{quote_plus(basic_client['client_id'])}:{quote_plus(basic_client['client_secret'])}"
    header = "Basic " + base64.b64encode(encoded.encode()).decode()
    assert token(http, GRANT, {"Authorization": header}).status_code == 200


def test_wrong_secret_in_header_is_401_with_www_authenticate(http, basic_client):
    response = token(http, GRANT, {"Authorization": basic(basic_client["client_id"], "wrong")})
    assert response.status_code == 401 and error(response) == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_client_is_invalid_client(http, basic_client):
    response = token(http, GRANT, {"Authorization": basic("nobody", basic_client["client_secret"])})
    assert response.status_code == 401 and error(response) == "invalid_client"


@pytest.mark.parametrize(
    "header", ["Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer x"]
)
def test_malformed_authorization_header_is_invalid_client(http, basic_client, header):
    response = token(http, GRANT, {"Authorization": header})
    assert response.status_code == 401 and error(response) == "invalid_client"
    assert "WWW-Authenticate" in response.headers


def test_client_secret_post_authenticates(http, post_client):
    body = {**GRANT, "client_id": post_client["client_id"], "client_secret": post_client["client_secret"]}
    assert token(http, body).status_code == 200


def test_wrong_secret_in_body_is_invalid_client_without_challenge(http, post_client):
    response = token(http, {**GRANT, "client_id": post_client["client_id"], "client_secret": "wrong"})
    assert error(response) == "invalid_client" and "WWW-Authenticate" not in response.headers


def test_registered_method_is_enforced(http, basic_client, post_client):
    as_post = {**GRANT, "client_id": basic_client["client_id"], "client_secret": basic_client["client_secret"]}
    assert error(token(http, as_post)) == "invalid_client"
    as_basic = {"Authorization": basic(post_client["client_id"], post_client["client_secret"])}
    assert error(token(http, GRANT, as_basic)) == "invalid_client"


def test_two_methods_in_one_request_is_invalid_request(http, basic_client):
    body = {**GRANT, "client_id": basic_client["client_id"], "client_secret": basic_client["client_secret"]}
    headers = {"Authorization": basic(basic_client["client_id"], basic_client["client_secret"])}
    assert error(token(http, body, headers)) == "invalid_request"


def test_no_authentication_at_all_is_invalid_client(http, basic_client):
    assert error(token(http, GRANT)) == "invalid_client"


def test_secret_for_public_client_is_refused(http, register):
    public = register(
        grant_types=["authorization_code"], redirect_uris=["http://127.0.0.1/cb"], token_endpoint_auth_method="none"
    )
    assert "client_secret" not in public
    response = token(http, {**GRANT, "client_id": public["client_id"], "client_secret": "anything"})
    assert error(response) == "invalid_client"


def test_public_client_cannot_use_client_credentials(http, register):
    public = register(
        grant_types=["authorization_code"], redirect_uris=["http://127.0.0.1/cb"], token_endpoint_auth_method="none"
    )
    response = token(http, {**GRANT, "client_id": public["client_id"]})
    assert error(response) in {"unauthorized_client"}


def test_rotated_secret_replaces_the_old_one(http, basic_client):
    from chalicelib.admin import handle

    rotated = handle({"operation": "clients.rotate_secret", "params": {"client_id": basic_client["client_id"]}})
    new_secret = rotated["result"]["client_secret"]
    old = token(http, GRANT, {"Authorization": basic(basic_client["client_id"], basic_client["client_secret"])})
    new = token(http, GRANT, {"Authorization": basic(basic_client["client_id"], new_secret)})
    assert old.status_code == 401 and new.status_code == 200
