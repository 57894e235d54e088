"""RFC 6749 §2.3 client authentication at the token endpoint, on the core alone (tests/unit/core.py)."""

from __future__ import annotations

import base64
import contextlib
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


# --- secret rollover: the previous secret during a grace period ----------------------------------


def rotate(client_id, **params):
    from chalicelib.admin import handle

    answer = handle({"operation": "clients.rotate_secret", "params": {"client_id": client_id, **params}})
    assert "result" in answer, answer
    return answer["result"]["client_secret"]


def status_with(http, client_id, secret):
    return token(http, GRANT, {"Authorization": basic(client_id, secret)}).status_code


def test_old_secret_keeps_working_during_the_grace_period_after_rotation(http, basic_client):
    client_id, old = basic_client["client_id"], basic_client["client_secret"]
    new = rotate(client_id, keep_old_for=3600)
    assert status_with(http, client_id, old) == 200
    assert status_with(http, client_id, new) == 200
    assert status_with(http, client_id, "wrong") == 401


def test_rotating_again_during_a_grace_period_keeps_only_the_newest_previous_secret(http, basic_client):
    client_id, first = basic_client["client_id"], basic_client["client_secret"]
    second = rotate(client_id, keep_old_for=3600)
    third = rotate(client_id, keep_old_for=3600)
    assert status_with(http, client_id, first) == 401
    assert status_with(http, client_id, second) == 200
    assert status_with(http, client_id, third) == 200


def test_rotation_without_grace_ends_a_running_grace_period(http, basic_client):
    client_id, first = basic_client["client_id"], basic_client["client_secret"]
    second = rotate(client_id, keep_old_for=3600)
    third = rotate(client_id)
    assert [status_with(http, client_id, s) for s in (first, second, third)] == [401, 401, 200]


def test_matching_the_current_or_the_previous_secret_costs_the_same_comparisons(monkeypatch):
    # No timing oracle: which secret matched (or none, or no such client) must not change the work done.
    import hmac
    import time

    from chalicelib.oauth import credentials
    from chalicelib.oauth.client_auth import ClientAuthenticator
    from chalicelib.oauth.clients import Client
    from chalicelib.oauth.errors import InvalidClient
    from chalicelib.oauth.request import Params, Request

    pepper = b"p" * 32
    client = Client(
        client_id="c",
        client_secret_hash=credentials.hash_client_secret(pepper, "current"),
        previous_client_secret_hash=credentials.hash_client_secret(pepper, "previous"),
        previous_client_secret_expires_at=int(time.time()) + 60,
    )

    class Lookup:
        def find(self, client_id, *, fresh=False):
            return client if client_id == "c" else None

    class Pepper:
        def pepper(self):
            return pepper

    comparisons = []
    compare_digest = hmac.compare_digest

    def counting(a, b):
        comparisons.append(len(b))
        return compare_digest(a, b)

    monkeypatch.setattr(credentials.hmac, "compare_digest", counting)
    authenticator = ClientAuthenticator(Lookup(), Pepper())
    work, accepted = {}, set()
    for client_id, secret in (("c", "current"), ("c", "previous"), ("c", "wrong"), ("nobody", "x")):
        comparisons.clear()
        headers = {"authorization": basic(client_id, secret)}
        request = Request(method="POST", path="/oauth2/token", headers=headers, query=Params({}))
        with contextlib.suppress(InvalidClient):
            accepted.add(authenticator.authenticate(request, Params({})).client_id + ":" + secret)
        work[(client_id, secret)] = list(comparisons)
    assert accepted == {"c:current", "c:previous"}
    assert work[("c", "current")] == work[("c", "previous")] == [64, 64]
    assert work[("nobody", "x")] == [64, 64]
    assert work[("c", "wrong")][:2] == [64, 64]


def test_a_secret_hash_is_hmac_sha256_under_the_pepper_whatever_was_hashed_before():
    """Hashes stored before (HMAC-SHA-256 under the pepper) keep matching; one hash never leaks into the next."""
    import hashlib
    import hmac

    from chalicelib.oauth.credentials import client_secret_matches, hash_client_secret

    for pepper, secret in [(b"pepper-1", "s1"), (b"pepper-2", "s1"), (b"pepper-1", "s2"), (b"pepper-1", "s1")]:
        expected = hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
        assert hash_client_secret(pepper, secret) == expected
        assert client_secret_matches(pepper, secret, expected)
        assert not client_secret_matches(pepper, secret + "x", expected)
