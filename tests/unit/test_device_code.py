"""The device code's transitions (RFC 8628 §3.3–3.5), without storage: each answer a poll can get."""

from __future__ import annotations

import pytest

from chalicelib.oauth.errors import AuthorizationPending, DeviceAccessDenied, ExpiredToken, InvalidGrant, SlowDown
from chalicelib.oauth.models.device_code import APPROVED, DENIED, PENDING, DeviceCode, Polls
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.models.serial import from_plain, to_plain

NOW = 1_000_000
CODE = DeviceCode("device-app", ("openid",), (), interval=5)
FIRST = Polls()
GRANT = UserGrant("device-app", "g1", "ada", ("openid",), (), NOW - 60, "sid", NOW + 3600)


def poll(code: DeviceCode, before: Polls = FIRST, *, now: int = NOW, client_id: str = "device-app") -> UserGrant:
    return code.poll(client_id, before, expires_at=NOW + 600, now=now)


def test_a_pending_code_answers_authorization_pending_at_the_first_poll():
    with pytest.raises(AuthorizationPending):
        poll(CODE)


def test_a_poll_within_the_interval_of_the_last_one_is_told_to_slow_down():
    with pytest.raises(SlowDown):
        poll(CODE, Polls(1, NOW - 2, NOW - 2))
    with pytest.raises(AuthorizationPending):
        poll(CODE, Polls(1, NOW - 5, NOW - 5))


def test_a_device_that_ignored_slow_down_waits_out_every_poll_it_made():
    # Ten polls since NOW - 20 spent 50 s of budget: the next is allowed at NOW + 30, not 5 s after the last.
    with pytest.raises(SlowDown, match="again in 30 s"):
        poll(CODE, Polls(10, NOW - 20, NOW - 10))
    with pytest.raises(AuthorizationPending):
        poll(CODE, Polls(10, NOW - 20, NOW - 10), now=NOW + 30)


def test_an_expired_code_answers_expired_token_whatever_its_state():
    with pytest.raises(ExpiredToken):
        CODE.approve(GRANT).poll("device-app", Polls(), expires_at=NOW, now=NOW)


def test_another_client_gets_invalid_grant():
    with pytest.raises(InvalidGrant):
        poll(CODE.approve(GRANT), client_id="other")


def test_approval_hands_over_the_grant_once_and_denial_access_denied():
    assert poll(CODE.approve(GRANT)) == GRANT
    with pytest.raises(DeviceAccessDenied):
        poll(CODE.deny())


def test_a_code_is_answered_once():
    for answered in (CODE.approve(GRANT), CODE.deny()):
        with pytest.raises(ExpiredToken):
            answered.approve(GRANT)
        with pytest.raises(ExpiredToken):
            answered.deny()
    assert (CODE.status, CODE.approve(GRANT).status, CODE.deny().status) == (PENDING, APPROVED, DENIED)


def test_the_stored_payload_keeps_its_shape():
    plain = to_plain(CODE.approve(GRANT))
    assert set(plain) == {"client_id", "scope", "audience", "interval", "status", "grant"}
    assert plain["scope"] == ["openid"] and plain["grant"]["grant_id"] == "g1"
    old = {"client_id": "device-app", "scope": ["openid"], "audience": [], "interval": 5}  # before status existed
    assert from_plain(DeviceCode, old) == CODE
    assert from_plain(DeviceCode, plain).grant == GRANT
