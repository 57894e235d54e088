"""AWS calls per request on a warm container (counted through botocore's event hooks)."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlencode

import pytest

from tests.conftest import FORM, basic


@pytest.fixture
def machine(register):
    return register(grant_types=["client_credentials"], scope="a", audience=["https://api.example.com"])


def token_request(http, client):
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    return http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))


def test_client_credentials_costs_zero_calls_when_client_is_cached_and_one_otherwise(http, machine, aws, monkeypatch):
    import chalicelib.storage.clients as clients_module

    token_request(http, machine)  # warm: pepper, keys, client
    aws.reset()
    assert token_request(http, machine).status_code == 200
    assert aws.count == 0, aws.calls

    # CLIENT_CACHE_SECONDS (60) later, the client record expires; keys (300 s) and pepper are still warm.
    later = clients_module.monotonic() + 61
    monkeypatch.setattr(clients_module, "monotonic", lambda: later)
    aws.reset()
    assert token_request(http, machine).status_code == 200
    assert aws.by_operation() == {"dynamodb.GetItem": 1}, aws.calls


def test_jwks_and_discovery_cost_zero_calls_when_warm(http, aws):
    http.get("/.well-known/jwks.json")
    aws.reset()
    for path in (
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ):
        assert http.get(path).status_code == 200
    assert aws.count == 0


def test_jwt_introspection_costs_one_call(http, machine, aws):
    token = json.loads(token_request(http, machine).body)["access_token"]
    aws.reset()
    headers = {**FORM, "Authorization": basic(machine["client_id"], machine["client_secret"])}
    http.post("/oauth2/introspect", headers=headers, body=urlencode({"token": token}))
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1}  # the jti (and grant) revocation check


def test_importing_app_creates_no_aws_client_and_loads_no_key():
    code = (
        "import sys, app; "
        "bad = [m for m in ('boto3', 'botocore', 'pynamodb', 'chalicelib.keys.secrets_mode') if m in sys.modules]; "
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.fixture
def web_app(register):
    from tests.oauth_flow import REDIRECT_URI

    return register(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope="openid offline_access profile",
    )


def _signed_in_tokens(http, client, aws):
    from tests.oauth_flow import Browser, authorize_url, exchange, pkce_pair, sign_in

    verifier, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"],
        scope="openid offline_access profile",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    code = sign_in(Browser(http), url)["code"]
    aws.reset()
    response = exchange(http, client, code, verifier)
    assert response.status_code == 200
    return json.loads(response.body)


def test_code_exchange_costs_at_most_two_calls(http, web_app, aws):
    _signed_in_tokens(http, web_app, aws)  # warms client, pepper and keys
    _signed_in_tokens(http, web_app, aws)
    assert aws.count <= 2, aws.calls
    # Consume the code + store the refresh token in one transaction that checks the grant is not revoked.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}


def test_refresh_costs_at_most_two_calls(http, web_app, aws, frozen_clock):
    from tests.oauth_flow import token_call

    body = _signed_in_tokens(http, web_app, aws)
    frozen_clock[0] += 10  # REFRESH_MIN_INTERVAL
    aws.reset()
    response = token_call(http, web_app, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert response.status_code == 200
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}


def test_userinfo_with_a_jwt_access_token_costs_at_most_two_calls(http, web_app, aws):
    body = _signed_in_tokens(http, web_app, aws)
    aws.reset()
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 1}


@pytest.fixture
def opaque_web_app(register):
    from tests.oauth_flow import REDIRECT_URI

    return register(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope="openid offline_access profile",
        access_token_strategy="opaque",
    )


def test_opaque_code_exchange_and_refresh_cost_two_calls_each(http, opaque_web_app, aws, frozen_clock):
    from tests.oauth_flow import token_call

    _signed_in_tokens(http, opaque_web_app, aws)  # warms client, pepper and keys
    body = _signed_in_tokens(http, opaque_web_app, aws)
    # Consume the code + store both tokens in one transaction that checks the grant is not revoked.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}, aws.calls
    frozen_clock[0] += 10  # REFRESH_MIN_INTERVAL
    aws.reset()
    response = token_call(http, opaque_web_app, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert response.status_code == 200
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}, aws.calls


def test_userinfo_with_an_opaque_access_token_costs_two_calls(http, opaque_web_app, aws):
    body = _signed_in_tokens(http, opaque_web_app, aws)
    aws.reset()
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    # The token and its grant's revocation marker in one BatchGetItem + read the user.
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 1}, aws.calls


def test_introspecting_a_refresh_token_or_an_opaque_access_token_costs_one_call(http, opaque_web_app, aws):
    from tests.oauth_flow import introspect

    body = _signed_in_tokens(http, opaque_web_app, aws)
    for token in (body["refresh_token"], body["access_token"]):
        aws.reset()
        assert introspect(http, opaque_web_app, token)["active"] is True
        assert aws.by_operation() == {"dynamodb.BatchGetItem": 1}, aws.calls


def test_userinfo_from_the_clients_browser_origin_costs_no_extra_call_while_the_client_is_cached(
    http, web_app, aws, monkeypatch
):
    import chalicelib.storage.clients as clients_module
    from tests.oauth_flow import REDIRECT_URI

    body = _signed_in_tokens(http, web_app, aws)  # the code exchange cached the client
    headers = {"Authorization": f"Bearer {body['access_token']}", "Origin": REDIRECT_URI.removesuffix("/cb")}
    aws.reset()
    response = http.get("/userinfo", headers=headers)
    assert response.headers["Access-Control-Allow-Origin"] == headers["Origin"]
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 1}

    # CLIENT_CACHE_SECONDS later the client's origins cost one read, only for requests that carry an Origin.
    later = clients_module.monotonic() + 61
    monkeypatch.setattr(clients_module, "monotonic", lambda: later)
    aws.reset()
    assert http.get("/userinfo", headers=headers).headers["Access-Control-Allow-Origin"] == headers["Origin"]
    assert aws.by_operation() == {"dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 2}


@pytest.fixture
def login_form(http, web_app, monkeypatch):
    """A login page for a fresh challenge of ``web_app``, and a user to sign in (cheap scrypt)."""
    from chalicelib import admin, services
    from chalicelib.oauth import users
    from tests.http.test_ui_pages import Page, new_flow

    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))
    admin.handle({"operation": "users.create", "params": {"username": "carol", "password": "carol's password"}})

    def open_page() -> tuple[Page, str]:
        challenge = services.flows().request_login(new_flow(web_app))
        return Page(http, f"/ui/login?{urlencode({'login_challenge': challenge})}"), challenge

    return open_page


def test_a_failed_login_costs_five_calls_and_a_successful_one_eight(http, login_form, aws):
    page, challenge = login_form()
    page.post(login_challenge=challenge, username="mallory", password="wrong password")  # warm the client
    aws.reset()
    assert page.post(login_challenge=challenge, username="mallory", password="wrong password").status_code == 200
    # The challenge read by the write that counts the attempt on it, the source address, the (username,
    # address) and the username counters, the user query: every count before scrypt (test_login_cost.py).
    assert aws.by_operation() == {"dynamodb.UpdateItem": 4, "dynamodb.Query": 1}, aws.calls
    page, challenge = login_form()
    aws.reset()
    assert page.post(login_challenge=challenge, username="carol", password="carol's password").status_code == 303
    # ... then clearing the pair counter, consuming the challenge and storing the verifier.
    expected = {"dynamodb.UpdateItem": 5, "dynamodb.Query": 1, "dynamodb.DeleteItem": 1}
    assert aws.by_operation() == {**expected, "dynamodb.PutItem": 1}, aws.calls


def test_entering_a_device_code_costs_three_calls_when_wrong_and_four_when_right(http, register, aws):
    from tests.http.test_device_flow import device_auth, open_form, post_form
    from tests.oauth_flow import DEVICE_GRANT as GRANT
    from tests.oauth_flow import Browser

    tv = register(grant_types=[GRANT], scope="openid offline_access", token_endpoint_auth_method="none")
    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    post_form(http, *open_form(Browser(http)), "ZZZZ-ZZZZ")  # warm: the pepper (read once per container)
    fields, cookie = open_form(Browser(http))
    aws.reset()
    assert post_form(http, fields, cookie, "ZZZZ-ZZZZ").status_code == 400
    # The address and the challenge counters, then the user code query.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 2, "dynamodb.Query": 1}, aws.calls
    aws.reset()
    assert post_form(http, fields, cookie, user_code).status_code == 303
    # ... plus storing the verifier if absent: the page's challenge is sealed, never stored nor consumed
    # (issue 10 item 1; was 5: consuming the stored challenge, then a PutItem of the verifier).
    assert aws.by_operation() == {"dynamodb.UpdateItem": 2, "dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1}


def test_a_flood_of_wrong_secrets_re_reads_the_client_at_most_once(http, machine, aws):
    token_request(http, machine)  # warm: pepper, keys, client
    aws.reset()
    wrong = {**machine, "client_secret": "wrong"}
    for _ in range(50):
        assert token_request(http, wrong).status_code == 401
    assert aws.by_operation()["dynamodb.GetItem"] <= 1, aws.calls
    assert token_request(http, machine).status_code == 200


def test_a_flood_of_one_unknown_client_id_reads_it_at_most_once(http, machine, aws):
    token_request(http, machine)  # warm: pepper, keys
    aws.reset()
    unknown = {"client_id": "nobody", "client_secret": "guess"}
    for _ in range(50):
        assert token_request(http, unknown).status_code == 401
    assert aws.by_operation()["dynamodb.GetItem"] <= 1, aws.calls


def test_a_rotated_secret_is_picked_up_once_the_re_read_interval_has_passed(http, machine, aws, monkeypatch):
    from dataclasses import replace

    from chalicelib import services
    from chalicelib.config import settings
    from chalicelib.oauth import client_auth
    from chalicelib.oauth.credentials import hash_client_secret
    from chalicelib.storage.clients import DynamoClientRepository

    token_request(http, machine)
    assert token_request(http, {**machine, "client_secret": "wrong"}).status_code == 401  # spends the re-read
    other_container = DynamoClientRepository(settings().clients_table, cache_seconds=60)
    client = other_container.find(machine["client_id"], fresh=True)
    other_container.replace(replace(client, client_secret_hash=hash_client_secret(services.pepper().pepper(), "new")))
    later = client_auth.monotonic() + client_auth.RECHECK_SECONDS + 1
    monkeypatch.setattr(client_auth, "monotonic", lambda: later)
    aws.reset()
    assert token_request(http, {**machine, "client_secret": "new"}).status_code == 200
    assert aws.by_operation() == {"dynamodb.GetItem": 1}, aws.calls


def test_a_sign_in_through_the_default_pages_writes_nothing_until_the_password_is_posted(
    http, web_app, login_form, aws
):
    """Issue 10 item 1: the login challenge is the flow, sealed.  Was 1 PutItem (authorize), 1 GetItem (page),
    then 8 calls (submit); now nothing, 1 GetItem, then 7."""
    from tests.http.test_ui_pages import Page
    from tests.oauth_flow import Browser, authorize_url, login_challenge, pkce_pair

    login_form()  # warm: the client, the pepper
    browser = Browser(http)
    url = authorize_url(
        web_app["client_id"], scope="openid", code_challenge=pkce_pair()[1], code_challenge_method="S256"
    )
    aws.reset()
    challenge = login_challenge(browser.get(url))
    assert aws.count == 0, aws.calls
    page = Page(http, f"/ui/login?{urlencode({'login_challenge': challenge})}")
    # One read, no write: the sealed challenge's state item (absent until a password is posted), so that a
    # void or answered challenge shows its page instead of a form (issue 10 item 2, test_login_cost.py).
    assert aws.by_operation() == {"dynamodb.GetItem": 1}, aws.calls
    aws.reset()
    assert page.post(login_challenge=challenge, username="carol", password="carol's password").status_code == 303
    # The attempt counted on the challenge's state item (the write creates it) and the source, pair and username
    # counters, the user query, clearing the pair counter, then one transaction: the verifier stored if absent
    # and the challenge closed.  One call fewer than a stored challenge (no separate consume).
    expected = {"dynamodb.UpdateItem": 4, "dynamodb.Query": 1, "dynamodb.DeleteItem": 1}
    assert aws.by_operation() == {**expected, "dynamodb.TransactWriteItems": 1}, aws.calls
