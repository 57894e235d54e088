"""The device code grant, RFC 8628 §3.4–3.5, and the person's answer to a device (§3.3).

The device code's states and rules are its model's
(:mod:`chalicelib.oauth.models.device_code`); this is where they are stored.
A poll is one counting write, whatever its answer (pending, slow_down,
denied, expired, unknown): it counts the poll and returns the record as it
was, or as it is when the write is refused.  Only issuing tokens costs more:
they are issued exactly once after approval (a conditional consume), bound
to the client that asked.  The person's answer is one read and one
compare-and-swap, so a device is approved or denied exactly once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib import clock
from chalicelib.oauth import device
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import ExpiredToken, InvalidGrant
from chalicelib.oauth.events import USER_SUBJECT
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.redemption import respond_for
from chalicelib.oauth.models.device_code import DeviceCode, Polls
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.models.serial import to_plain
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.ports import AlreadyConsumed, StateStore
from chalicelib.oauth.request import Params
from chalicelib.tokens import opaque
from chalicelib.tokens.hashing import digest

_UNKNOWN = "the device code is unknown or was already used"


class DeviceCodeGrant:
    grant_type = device.GRANT_TYPE
    subject_kind = USER_SUBJECT  # whom its tokens are about, for the request's outcome

    def __init__(self, deps: GrantDependencies) -> None:
        self._deps = deps

    def exchange(self, client: Client, params: Params) -> dict[str, Any]:
        value = params.require("device_code")
        if not value.startswith(opaque.DEVICE_CODE):
            raise InvalidGrant(_UNKNOWN)  # not ours: no call at all
        device_id = digest(value)
        now = int(clock.now())
        before = self._deps.store.increment(DeviceCode.KIND, device_id, at=now)
        if before is None or before.consumed_at is not None:
            raise InvalidGrant(_UNKNOWN)
        polls = Polls(before.counter, before.first_counted_at, before.counted_at)
        grant = read(DeviceCode, before).poll(client.client_id, polls, expires_at=before.expires_at, now=now)
        try:
            item = self._deps.store.consume(DeviceCode.KIND, device_id)
        except (KeyError, AlreadyConsumed):
            raise InvalidGrant("the device code was already used") from None
        return respond_for(self._deps, item, client, grant, scope=grant.scope, nonce=None)


def answer(store: StateStore, device_code_id: str, grant: UserGrant | None) -> bool:
    """Approve the device code with ``grant`` (or deny it: None), exactly once; False if it was not pending,
    or is expired, used or unknown."""
    item = store.find(DeviceCode.KIND, device_code_id)
    if item is None:
        return False
    code = read(DeviceCode, item)
    try:
        answered = code.approve(grant) if grant is not None else code.deny()
    except ExpiredToken:
        return False
    return store.swap(item, replace(item, payload=to_plain(answered)))
