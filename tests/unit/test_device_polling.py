"""RFC 8628 §3.4/§3.5 device polling on the core alone (tests/unit/core.py): each answer a device can get.

The person approves through a device app of the team's (``services.flows()``, as the headless contract
offers) instead of Tollgate's device page; the page itself: tests/http/test_device_flow.py.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from tests.conftest import FORM, ISSUER
from tests.oauth_flow import (
    DEVICE_GRANT,
    Browser,
    consent_challenge,
    device_auth,
    error_of,
    login_challenge,
    poll,
    query_of,
)


def answer_device(http, user_code, *, allow=True):
    """The person types ``user_code`` into the device app, signs in, then consents or denies: where the
    browser lands (the device page's query: ``device=connected`` or an ``error``)."""
    from chalicelib import services

    browser, flows = Browser(http), services.flows()
    challenge = flows.request_device(http.bind_flow(browser))
    login = login_challenge(browser.get(flows.accept_device(challenge, user_code=user_code)))
    consent = consent_challenge(browser.get(flows.accept_login(login, subject="viewer-1", remember=True)))
    if allow:
        redirect_to = flows.accept_consent(consent, grant_scope=["openid", "offline_access"])
    else:
        redirect_to = flows.reject_consent(consent)
    done = browser.get(redirect_to)
    assert done.status_code == 302, done.body
    return query_of(done.headers["Location"])


def test_pending_until_approved_then_tokens_exactly_once(http, tv, frozen_clock):
    body = json.loads(device_auth(http, tv).body)
    pending = poll(http, tv, body["device_code"])
    assert pending.status_code == 400 and error_of(pending) == "authorization_pending"
    assert answer_device(http, body["user_code"]) == {"device": "connected"}
    frozen_clock[0] += 5
    tokens = poll(http, tv, body["device_code"])
    assert tokens.status_code == 200, tokens.body
    assert tokens.headers["Cache-Control"] == "no-store"
    assert {"access_token", "refresh_token", "id_token"} <= set(json.loads(tokens.body))
    frozen_clock[0] += 5
    assert error_of(poll(http, tv, body["device_code"])) == "invalid_grant"  # used: never a second set


def test_a_denied_request_answers_access_denied(http, tv, frozen_clock):
    body = json.loads(device_auth(http, tv).body)
    assert answer_device(http, body["user_code"], allow=False)["error"] == "access_denied"
    assert error_of(poll(http, tv, body["device_code"])) == "access_denied"


def test_an_expired_device_code_answers_expired_token_and_its_user_code_is_refused(http, tv, monkeypatch, frozen_clock):
    from chalicelib import services
    from chalicelib.oauth.errors import InvalidRequest

    monkeypatch.setenv("DEVICE_CODE_TTL", "1")
    services.reset()
    body = json.loads(device_auth(http, tv).body)
    frozen_clock[0] += 2
    assert error_of(poll(http, tv, body["device_code"])) == "expired_token"
    with pytest.raises(InvalidRequest):
        answer_device(http, body["user_code"])


def test_an_unknown_device_code_is_invalid_grant(http, tv):
    assert error_of(poll(http, tv, "tg_dc_never-issued")) == "invalid_grant"


def test_device_authorization_response(http, tv):
    response = device_auth(http, tv)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = json.loads(response.body)
    assert body["device_code"].startswith("tg_dc_")
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", body["user_code"])
    assert body["verification_uri"] == f"{ISSUER}/oauth2/device/verify"
    assert body["verification_uri_complete"] == f"{ISSUER}/oauth2/device/verify?user_code={body['user_code']}"
    assert body["expires_in"] == 600 and body["interval"] == 5


def test_client_without_the_device_grant_is_unauthorized_client(http, register):
    web = register(grant_types=["authorization_code"], redirect_uris=["https://a.example.com/cb"], scope="openid")
    response = http.post("/oauth2/device/auth", headers=FORM, body=urlencode({"client_id": web["client_id"]}))
    assert error_of(response) in {"unauthorized_client", "invalid_client"}


def test_device_scope_is_validated(http, tv):
    assert error_of(device_auth(http, tv, scope="openid admin")) == "invalid_scope"


def test_polling_too_fast_is_slow_down_until_the_device_has_waited_out_every_poll(http, tv, frozen_clock):
    device_code = json.loads(device_auth(http, tv).body)["device_code"]
    assert error_of(poll(http, tv, device_code)) == "authorization_pending"  # t=0: each poll spends 5 s
    frozen_clock[0] += 1
    assert error_of(poll(http, tv, device_code)) == "slow_down"  # t=1: needed 5 s since the last poll
    frozen_clock[0] += 6
    assert error_of(poll(http, tv, device_code)) == "slow_down"  # t=7: 2 polls made, budget reaches t=10
    frozen_clock[0] += 7
    assert error_of(poll(http, tv, device_code)) == "slow_down"  # t=14: 3 polls made, budget reaches t=15
    frozen_clock[0] += 6
    assert error_of(poll(http, tv, device_code)) == "authorization_pending"  # t=20: 4 polls, 20 s: in time
    frozen_clock[0] += 5
    assert error_of(poll(http, tv, device_code)) == "authorization_pending"  # back at the interval


def test_a_device_code_is_bound_to_the_client_that_asked(http, tv, register):
    other = register(grant_types=[DEVICE_GRANT], scope="openid", token_endpoint_auth_method="none")
    body = json.loads(device_auth(http, tv).body)
    assert error_of(poll(http, other, body["device_code"])) == "invalid_grant"
