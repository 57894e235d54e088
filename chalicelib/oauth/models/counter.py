"""Attempt counters: at most ``limit`` attempts in a fixed window from the first (OWASP brute-force guidance).

Each attempt is counted by one atomic ``increment`` before anything is
checked, on an item of the counter's ``KIND`` keyed by what it limits (an
HMAC of a source address, a challenge's hash, ...), created with the window
as its expiry: racing attempts each get another number, so a burst cannot
slip past the limit.  The payload is empty; the count is the item's counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chalicelib.oauth.ports import StateItem, StateStore


@dataclass(frozen=True)
class Counter:
    KIND: ClassVar[str] = ""

    limit: int
    window: int  # seconds from the first attempt

    def until(self, now: int) -> int:
        """The expiry a first attempt at ``now`` gives the count (a later one keeps it)."""
        return now + self.window

    def count(self, store: StateStore, key: str, now: int) -> StateItem | None:
        """Count one attempt on this counter's item for ``key`` at ``now``, in one atomic write: the count as it was."""
        return store.increment(self.KIND, key, at=now, create_until=self.until(now))

    def attempt(self, before: StateItem | None) -> int:
        """The number of the attempt ``increment`` just counted (``before``: the count as it was), from 1."""
        return (before.counter if before is not None else 0) + 1

    def allows(self, before: StateItem | None) -> bool:
        """Whether the attempt ``increment`` just counted (``before``: the count as it was) is within the limit."""
        return self.attempt(before) <= self.limit


class DeviceAttempts(Counter):
    """User codes entered (RFC 8628 §5.1): per source address on the page, per device challenge."""

    KIND: ClassVar[str] = "device_attempts"


class LoginAttempts(Counter):
    """Sign-in attempts per source, per (username, source) and per username (``password_login``)."""

    KIND: ClassVar[str] = "login_attempts"


class LoginDelay(Counter):
    """The slot a (username, source) pair past its free attempts must take; lives for the delay."""

    KIND: ClassVar[str] = "login_delay"
