"""Device access token requests, RFC 8628 §3.4–3.5.

A poll is one conditional write that stamps the poll time and returns the
record as it was: while the person has not answered, that is the only call.
``slow_down`` when the device polls faster than its interval, which then
grows by 5 s each time; tokens exactly once after approval (a conditional
consume), bound to the client that asked.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.oauth import device
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import AccessDenied, InvalidGrant, OAuthError
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.issuance import UserGrant
from chalicelib.oauth.ports import AlreadyConsumed, StateItem
from chalicelib.oauth.request import Params
from chalicelib.tokens import opaque


class AuthorizationPending(OAuthError):
    error = "authorization_pending"


class SlowDown(OAuthError):
    error = "slow_down"


class ExpiredToken(OAuthError):
    error = "expired_token"


class DeviceAccessDenied(AccessDenied):
    """§3.5: the same code as RFC 6749's, answered with 400 at the token endpoint."""

    status = 400


class DeviceCodeGrant:
    grant_type = device.GRANT_TYPE

    def __init__(self, deps: GrantDependencies) -> None:
        self._deps = deps

    def exchange(self, client: Client, params: Params) -> dict[str, Any]:
        device_id = opaque.digest(params.require("device_code"))
        now = int(time.time())
        before = self._deps.store.record_poll(device.DEVICE_CODE_KIND, device_id, now)
        if before is None:
            raise self._gone(device_id)
        request = device.DeviceRequest.from_payload(before.payload)
        if request.client_id != client.client_id:
            raise InvalidGrant("the device code was issued to another client")
        if request.status == device.DENIED:
            raise DeviceAccessDenied("the person denied the request")
        if request.status == device.APPROVED:
            return self._issue(client, device_id)
        self._pace(before, device_id, request.interval, now)
        raise AuthorizationPending("the person has not answered yet")

    def _pace(self, before: StateItem, device_id: str, interval: int, now: int) -> None:
        required = interval + device.SLOW_DOWN_STEP * before.counter
        if before.polled_at is not None and now - before.polled_at < required:
            self._deps.store.increment(device.DEVICE_CODE_KIND, device_id, before.expires_at)
            raise SlowDown(f"poll at most every {required + device.SLOW_DOWN_STEP} seconds")

    def _issue(self, client: Client, device_id: str) -> dict[str, Any]:
        try:
            item = self._deps.store.consume(device.DEVICE_CODE_KIND, device_id)
        except (KeyError, AlreadyConsumed):
            raise InvalidGrant("the device code was already used") from None
        grant = UserGrant.from_payload(item.payload["grant"])
        return self._deps.issuer.respond(client, grant, scope=grant.scope, nonce=None)

    def _gone(self, device_id: str) -> OAuthError:
        """The rare losing path pays a read to tell expiry (§3.5 expired_token) from reuse."""
        if self._deps.store.is_expired(device.DEVICE_CODE_KIND, device_id):
            return ExpiredToken("the device code has expired")
        return InvalidGrant("the device code is unknown or was already used")
