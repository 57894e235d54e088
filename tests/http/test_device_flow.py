"""RFC 8628 device authorization grant over Chalice's test client: the device page, races, AWS calls.

The grant's answers to a polling device alone: tests/unit/test_device_polling.py."""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import urlencode, urlsplit

import pytest

from tests.conftest import FORM, ISSUER
from tests.oauth_flow import DEVICE_GRANT, Browser, device_auth, error_of, poll, query_of


def form_fields(page):
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.body.decode()))


def enter_code(browser, user_code, *, typed=None):
    """Open verification_uri_complete, confirm the pre-filled code, press Continue."""
    page = browser.get(f"{ISSUER}/oauth2/device/verify?{urlencode({'user_code': user_code})}")
    assert page.status_code == 200 and "Continue" in page.body.decode()
    fields = form_fields(page)
    assert fields["user_code"] == user_code  # pre-filled, never auto-submitted (§5.4)
    fields["user_code"] = typed if typed is not None else user_code
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    response = browser.http.post("/oauth2/device/verify", headers={**FORM, "Cookie": cookie}, body=urlencode(fields))
    browser._keep(response.headers.get("Set-Cookie"))
    return response


def approve(browser, user_code, *, allow=True):
    from chalicelib import services

    response = enter_code(browser, user_code)
    assert response.status_code == 303, response.body
    login = query_of(browser.get(response.headers["Location"]).headers["Location"])["login_challenge"]
    redirect_to = services.flows().accept_login(login, subject="viewer-1", remember=True)
    consent = query_of(browser.get(redirect_to).headers["Location"])["consent_challenge"]
    flows = services.flows()
    redirect_to = (
        flows.accept_consent(consent, grant_scope=["openid", "offline_access"])
        if allow
        else flows.reject_consent(consent)
    )
    done = browser.get(redirect_to)
    assert done.status_code == 302
    return browser.get(done.headers["Location"])


def test_full_device_flow_issues_tokens_exactly_once(http, tv, frozen_clock):
    body = json.loads(device_auth(http, tv).body)
    assert error_of(poll(http, tv, body["device_code"])) == "authorization_pending"
    page = approve(Browser(http), body["user_code"])
    assert "Your device is connected" in page.body.decode()
    frozen_clock[0] += 5
    tokens = poll(http, tv, body["device_code"])
    assert tokens.status_code == 200, tokens.body
    issued = json.loads(tokens.body)
    assert {"access_token", "refresh_token", "id_token"} <= set(issued)
    frozen_clock[0] += 5
    assert error_of(poll(http, tv, body["device_code"])) == "invalid_grant"


def test_deny_answers_access_denied(http, tv, frozen_clock):
    body = json.loads(device_auth(http, tv).body)
    page = approve(Browser(http), body["user_code"], allow=False)
    assert "Access was denied" in page.body.decode()
    assert error_of(poll(http, tv, body["device_code"])) == "access_denied"


def test_expired_device_code_answers_expired_token(http, tv, monkeypatch, frozen_clock):
    from chalicelib import services

    monkeypatch.setenv("DEVICE_CODE_TTL", "1")
    services.reset()
    body = json.loads(device_auth(http, tv).body)
    frozen_clock[0] += 2
    assert error_of(poll(http, tv, body["device_code"])) == "expired_token"
    assert enter_code(Browser(http), body["user_code"]).status_code == 400


@pytest.mark.parametrize("typed", ["ZZZZ-ZZZZ", "nonsense", ""])
def test_a_wrong_code_shows_an_error_page_never_a_5xx(http, tv, typed):
    body = json.loads(device_auth(http, tv).body)
    response = enter_code(Browser(http), body["user_code"], typed=typed)
    assert response.status_code == 400 and "not valid" in response.body.decode()


def test_code_input_is_normalised(http, tv):
    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    typed = user_code.lower().replace("-", " ")
    assert enter_code(Browser(http), user_code, typed=typed).status_code == 303


def open_form(browser):
    """GET the verification page: its form fields and the browser's cookies, ready to post."""
    fields = form_fields(browser.get(f"{ISSUER}/oauth2/device/verify"))
    return fields, "; ".join(f"{k}={v}" for k, v in browser.cookies.items())


def post_form(http, fields, cookie, user_code):
    body = urlencode({**fields, "user_code": user_code})
    return http.post("/oauth2/device/verify", headers={**FORM, "Cookie": cookie}, body=body)


@pytest.fixture
def source(monkeypatch):
    """Set the source address the next requests come from (API Gateway's ``identity.sourceIp``)."""
    from chalice.local import LambdaEventConverter

    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    return use


def test_code_guessing_is_limited_per_device_challenge_from_any_address(http, tv, source):
    body = json.loads(device_auth(http, tv).body)
    fields, cookie = open_form(Browser(http))
    for n in range(5):
        source(f"203.0.113.{n}")
        assert post_form(http, fields, cookie, "ZZZZ-ZZZZ").status_code == 400
    source("198.51.100.1")
    assert post_form(http, fields, cookie, body["user_code"]).status_code == 429


def test_thirty_parallel_guesses_from_one_address_get_at_most_twenty_answers(http, tv):
    forms = [open_form(Browser(http)) for _ in range(30)]  # a fresh browser (cookie, challenge) for each
    barrier = threading.Barrier(30)
    statuses: list[int] = []

    def guess(fields, cookie) -> None:
        barrier.wait()
        statuses.append(post_form(http, fields, cookie, "ZZZZ-ZZZZ").status_code)

    threads = [threading.Thread(target=guess, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(400) <= 20 and statuses.count(429) >= 10, statuses


def test_a_valid_code_on_a_used_challenge_answers_exactly_like_a_wrong_code(http, tv):
    first, second = (json.loads(device_auth(http, tv).body)["user_code"] for _ in range(2))
    fields, cookie = open_form(Browser(http))
    assert post_form(http, fields, cookie, first).status_code == 303  # the challenge is used now
    valid = post_form(http, fields, cookie, second)
    wrong = post_form(http, fields, cookie, "ZZZZ-ZZZZ")
    assert valid.status_code == wrong.status_code == 400
    message = re.compile(r'role="alert"[^>]*>([^<]*)<')
    assert message.search(valid.body.decode()).group(1) == message.search(wrong.body.decode()).group(1)


def test_headless_accept_answers_a_made_up_challenge_like_a_wrong_code(http, tv):
    from chalicelib import services
    from chalicelib.headless import handle

    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    made_up = handle({"operation": "device.accept", "params": {"device_challenge": "x" * 43, "user_code": user_code}})
    challenge = services.flows().request_device("csrf")
    wrong = handle({"operation": "device.accept", "params": {"device_challenge": challenge, "user_code": "ZZZZZZZZ"}})
    assert made_up == wrong and wrong["error"] == "invalid_request", (made_up, wrong)


def test_headless_accept_is_limited_per_device_challenge(http, tv):
    from chalicelib import services
    from chalicelib.headless import handle

    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    challenge = services.flows().request_device("csrf")
    for _ in range(5):
        answer = handle(
            {"operation": "device.accept", "params": {"device_challenge": challenge, "user_code": "ZZZZZZZZ"}}
        )
        assert answer["error"] == "invalid_request"
    answer = handle({"operation": "device.accept", "params": {"device_challenge": challenge, "user_code": user_code}})
    assert "redirect_to" not in answer and "too many" in answer["error_description"].lower(), answer


def test_concurrent_polls_after_approval_yield_exactly_one_token_response(http, tv, frozen_clock):
    body = json.loads(device_auth(http, tv).body)
    approve(Browser(http), body["user_code"])
    results: list[int] = []
    barrier = threading.Barrier(5)

    def racer() -> None:
        barrier.wait()
        results.append(poll(http, tv, body["device_code"]).status_code)

    threads = [threading.Thread(target=racer) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400, 400, 400, 400]


def test_pending_poll_costs_one_call_and_issuing_poll_at_most_three(http, tv, frozen_clock, aws):
    body = json.loads(device_auth(http, tv).body)
    poll(http, tv, body["device_code"])  # warm the client cache
    frozen_clock[0] += 5
    aws.reset()
    assert error_of(poll(http, tv, body["device_code"])) == "authorization_pending"
    assert aws.count == 1, aws.calls
    approve(Browser(http), body["user_code"])
    http.get("/.well-known/jwks.json")  # a warm container holds the key set
    frozen_clock[0] += 5
    aws.reset()
    assert poll(http, tv, body["device_code"]).status_code == 200
    assert aws.count <= 3, aws.calls


ONE_WRITE = {"dynamodb.UpdateItem": 1}


def test_the_user_code_guard_item_holds_nothing_but_its_key_kind_and_expiry(http, tv, aws):
    import boto3

    from chalicelib.config import settings

    user_code = json.loads(device_auth(http, tv).body)["user_code"].replace("-", "")
    key = {"pk": {"S": f"user_code#{user_code}"}}
    guard = boto3.client("dynamodb").get_item(TableName=settings().state_table, Key=key)["Item"]
    assert set(guard) == {"pk", "kind", "payload", "expires_at"} and guard["payload"] == {"S": "{}"}


def test_every_poll_costs_one_write_whatever_the_answer(http, tv, frozen_clock, aws):
    body = json.loads(device_auth(http, tv).body)
    assert error_of(poll(http, tv, body["device_code"])) == "authorization_pending"  # warms the client cache
    denied = json.loads(device_auth(http, tv).body)
    approve(Browser(http), denied["user_code"], allow=False)
    expiring = json.loads(device_auth(http, tv).body)["device_code"]
    for move, device_code, expected in (
        (1, body["device_code"], "slow_down"),
        (10, body["device_code"], "authorization_pending"),  # waited out both polls
        (0, denied["device_code"], "access_denied"),
        (0, "tg_dc_never-issued", "invalid_grant"),
        (600, expiring, "expired_token"),
    ):
        frozen_clock[0] += move
        aws.reset()
        assert (error_of(poll(http, tv, device_code)), aws.by_operation()) == (expected, ONE_WRITE), aws.calls
    aws.reset()
    assert error_of(poll(http, tv, "not-a-device-code")) == "invalid_grant"
    assert aws.count == 0, aws.calls


def test_a_used_device_code_costs_one_write(http, tv, frozen_clock, aws):
    body = json.loads(device_auth(http, tv).body)
    approve(Browser(http), body["user_code"])
    assert poll(http, tv, body["device_code"]).status_code == 200
    frozen_clock[0] += 5
    aws.reset()
    assert error_of(poll(http, tv, body["device_code"])) == "invalid_grant"
    assert aws.by_operation() == ONE_WRITE, aws.calls


def test_entering_a_user_code_looks_it_up_with_one_index_query(http, tv, aws):
    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    browser = Browser(http)
    browser.get(f"{ISSUER}/oauth2/device/verify")  # warm
    aws.reset()
    assert enter_code(browser, user_code).status_code == 303
    lookups = {op: n for op, n in aws.by_operation().items() if op in ("dynamodb.Query", "dynamodb.GetItem")}
    assert lookups == {"dynamodb.Query": 1}, aws.calls


def test_discovery_lists_the_device_endpoint_and_grant(http):
    meta = json.loads(http.get("/.well-known/openid-configuration").body)
    assert meta["device_authorization_endpoint"] == f"{ISSUER}/oauth2/device/auth"
    assert DEVICE_GRANT in meta["grant_types_supported"]


def test_verification_page_sends_security_headers(http):
    page = http.get("/oauth2/device/verify")
    assert (
        page.headers["X-Frame-Options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    )
    assert urlsplit(ISSUER).netloc


def consent_step(browser, user_code):
    """Enter the code in a browser that is already signed in: where the device flow goes next."""
    response = enter_code(browser, user_code)
    assert response.status_code == 303, response.body
    return browser.get(response.headers["Location"]).headers["Location"]


def signed_in_browser(http, client, *, remember_consent):
    """A browser with a login session that has connected ``client`` once (and maybe remembered consent)."""
    from chalicelib import services

    browser = Browser(http)
    flows = services.flows()
    user_code = json.loads(device_auth(http, client).body)["user_code"]
    location = consent_step(browser, user_code)
    redirect_to = flows.accept_login(query_of(location)["login_challenge"], subject="viewer-1", remember=True)
    consent = query_of(browser.get(redirect_to).headers["Location"])["consent_challenge"]
    request = flows.consent_request(consent)
    done = browser.get(
        flows.accept_consent(
            consent,
            grant_scope=request.requested_scope,
            grant_access_token_audience=request.requested_access_token_audience,
            remember=remember_consent,
        )
    )
    assert query_of(done.headers["Location"]) == {"device": "connected"}
    return browser


def test_remembered_consent_never_skips_the_device_confirmation(http, tv):
    from chalicelib.headless import handle  # the login app's operations (no longer the admin function's)

    browser = signed_in_browser(http, tv, remember_consent=True)
    location = consent_step(browser, json.loads(device_auth(http, tv).body)["user_code"])
    assert "consent_challenge=" in location  # SSO skipped the login, not the confirmation (RFC 8628 §5.4)
    answer = handle(
        {"operation": "consent.get", "params": {"consent_challenge": query_of(location)["consent_challenge"]}}
    )
    consent = answer["result"]
    assert consent["skip"] is False and consent["client"]["client_name"] == "Living room TV"
    assert consent["requested_scope"] == ["openid", "offline_access"]


def test_skip_consent_never_skips_the_device_confirmation(http, register):
    first_party = register(
        client_name="Lobby screen",
        grant_types=[DEVICE_GRANT],
        scope="openid offline_access",
        token_endpoint_auth_method="none",
        skip_consent=True,
    )
    browser = signed_in_browser(http, first_party, remember_consent=False)
    location = consent_step(browser, json.loads(device_auth(http, first_party).body)["user_code"])
    assert "consent_challenge=" in location


def test_device_consent_shows_the_registered_audience_when_none_was_requested(http, register):
    from chalicelib import services

    tv = register(
        grant_types=[DEVICE_GRANT],
        scope="openid",
        audience=["https://media.example.com"],
        token_endpoint_auth_method="none",
    )
    browser = Browser(http)
    location = consent_step(browser, json.loads(device_auth(http, tv, scope="openid").body)["user_code"])
    redirect_to = services.flows().accept_login(query_of(location)["login_challenge"], subject="viewer-1")
    consent = query_of(browser.get(redirect_to).headers["Location"])["consent_challenge"]
    assert services.flows().consent_request(consent).requested_access_token_audience == ["https://media.example.com"]


def test_a_crafted_device_challenge_cannot_count_against_an_address(http, tv):
    from chalicelib.headless import handle

    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    for _ in range(25):  # a challenge named like the page's per-address counter
        handle({"operation": "device.accept", "params": {"device_challenge": "source:127.0.0.1", "user_code": "Z"}})
    fields, cookie = open_form(Browser(http))
    assert post_form(http, fields, cookie, user_code).status_code == 303


def test_the_persons_answer_costs_one_read_and_one_conditional_write_of_the_device_code(http, tv, aws):
    """The consent verifier's redemption approves the device: consume the verifier, read the code, swap it."""
    from chalicelib import services

    user_code = json.loads(device_auth(http, tv).body)["user_code"]
    browser = Browser(http)
    response = enter_code(browser, user_code)
    login = query_of(browser.get(response.headers["Location"]).headers["Location"])["login_challenge"]
    redirect_to = services.flows().accept_login(login, subject="viewer-1", remember=True)
    consent = query_of(browser.get(redirect_to).headers["Location"])["consent_challenge"]
    redirect_to = services.flows().accept_consent(consent, grant_scope=["openid"])
    aws.reset()
    done = browser.get(redirect_to)
    assert query_of(done.headers["Location"]) == {"device": "connected"}
    assert aws.by_operation() == {"dynamodb.UpdateItem": 2, "dynamodb.GetItem": 1}, aws.calls
