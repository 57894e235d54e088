"""Device access token requests, RFC 8628 §3.4–3.5.

A poll is one conditional write, whatever its answer (pending, slow_down,
denied, expired, unknown): it counts the poll and returns the record as it
was, or as it is when the write is refused.  Only issuing tokens costs more.

Pacing (§3.5 ``slow_down``): every poll spends one ``interval`` of the
device's budget, fast or not, counted from its first poll; a poll is too
fast if it comes before its budget allows or within ``interval`` of the last
one.  A device that ignores ``slow_down`` thus waits out every poll it made,
as a growing interval would make it, with no second write to grow one.
Tokens are issued exactly once after approval (a conditional consume),
bound to the client that asked.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.oauth import device
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import AuthorizationPending, DeviceAccessDenied, ExpiredToken, InvalidGrant, SlowDown
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.issuance import UserGrant
from chalicelib.oauth.grants.redemption import respond_for
from chalicelib.oauth.ports import AlreadyConsumed, StateItem
from chalicelib.oauth.request import Params
from chalicelib.tokens import opaque
from chalicelib.tokens.hashing import digest


class DeviceCodeGrant:
    grant_type = device.GRANT_TYPE

    def __init__(self, deps: GrantDependencies) -> None:
        self._deps = deps

    def exchange(self, client: Client, params: Params) -> dict[str, Any]:
        value = params.require("device_code")
        if not value.startswith(opaque.DEVICE_CODE):
            raise InvalidGrant("the device code is unknown or was already used")  # not ours: no call at all
        device_id = digest(value)
        now = int(clock.now())
        before = self._deps.store.record_poll(device.DEVICE_CODE_KIND, device_id, now)
        if before is None or before.consumed_at is not None:
            raise InvalidGrant("the device code is unknown or was already used")
        if before.expires_at <= now:
            raise ExpiredToken("the device code has expired")
        request = device.DeviceRequest.from_payload(before.payload)
        if request.client_id != client.client_id:
            raise InvalidGrant("the device code was issued to another client")
        if request.status == device.DENIED:
            raise DeviceAccessDenied("the person denied the request")
        if request.status == device.APPROVED:
            return self._issue(client, device_id)
        self._pace(before, request.interval, now)
        raise AuthorizationPending("the person has not answered yet")

    def _pace(self, before: StateItem, interval: int, now: int) -> None:
        """``before`` counts the polls before this one, the first at ``first_polled_at``."""
        if before.polled_at is None or before.first_polled_at is None:
            return
        allowed_at = max(before.first_polled_at + before.counter * interval, before.polled_at + interval)
        if now < allowed_at:
            raise SlowDown(f"polled too fast: poll again in {allowed_at - now} s, then every {interval} s at most")

    def _issue(self, client: Client, device_id: str) -> dict[str, Any]:
        try:
            item = self._deps.store.consume(device.DEVICE_CODE_KIND, device_id)
        except (KeyError, AlreadyConsumed):
            raise InvalidGrant("the device code was already used") from None
        grant = UserGrant.from_payload(item.payload["grant"])
        return respond_for(self._deps, item, client, grant, scope=grant.scope, nonce=None)
