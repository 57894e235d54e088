"""A device code (RFC 8628): what a device asked for, and the person's answer, stored under the code's hash.

    pending ──approve(grant)──▶ approved ──(one poll consumes it)──▶ tokens issued
       │
       └──deny()──▶ denied

The transitions are pure: each returns the next ``DeviceCode`` or raises the
RFC error; the device code grant persists them (a poll is one counting
write, an answer one compare-and-swap, the issue one consume).

Pacing (§3.5 ``slow_down``): every poll spends one ``interval`` of the
device's budget, fast or not, counted from its first poll; a poll is too
fast if it comes before its budget allows or within ``interval`` of the last
one.  A device that ignores ``slow_down`` thus waits out every poll it made,
as a growing interval would make it, with no second write to grow one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from chalicelib.oauth.errors import AuthorizationPending, DeviceAccessDenied, ExpiredToken, InvalidGrant, SlowDown
from chalicelib.oauth.models.grant import UserGrant

PENDING, APPROVED, DENIED = "pending", "approved", "denied"


@dataclass(frozen=True)
class Polls:
    """The polls before this one: how many, the first's and the last's time (None before any)."""

    count: int = 0
    first_at: int | None = None
    last_at: int | None = None


@dataclass(frozen=True)
class DeviceCode:
    KIND: ClassVar[str] = "device_code"

    client_id: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    interval: int
    status: str = PENDING
    grant: UserGrant | None = None  # once approved

    def poll(self, client_id: str, before: Polls, *, expires_at: int, now: int) -> UserGrant:
        """§3.5: the grant to issue tokens for, or the error that answers this poll."""
        if expires_at <= now:
            raise ExpiredToken("the device code has expired")
        if self.client_id != client_id:
            raise InvalidGrant("the device code was issued to another client")
        if self.status == DENIED:
            raise DeviceAccessDenied("the person denied the request")
        if self.status == APPROVED and self.grant is not None:
            return self.grant
        self._pace(before, now)
        raise AuthorizationPending("the person has not answered yet")

    def _pace(self, before: Polls, now: int) -> None:
        if before.first_at is None or before.last_at is None:
            return
        interval = self.interval
        allowed_at = max(before.first_at + before.count * interval, before.last_at + interval)
        if now < allowed_at:
            raise SlowDown(f"polled too fast: poll again in {allowed_at - now} s, then every {interval} s at most")

    @property
    def pending(self) -> bool:
        """Not answered yet: a person may still bind it to their browser (§3.3)."""
        return self.status == PENDING

    def approve(self, grant: UserGrant) -> DeviceCode:
        """The person allowed the device (§3.3): answered once, with the grant its tokens carry."""
        return replace(self._pending(), status=APPROVED, grant=grant)

    def deny(self) -> DeviceCode:
        return replace(self._pending(), status=DENIED, grant=None)

    def _pending(self) -> DeviceCode:
        if not self.pending:
            raise ExpiredToken("the device code was already answered")
        return self
