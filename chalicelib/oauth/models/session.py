"""A browser's login session (DESIGN §4; OWASP Session Management Cheat Sheet, "Session Expiration").

It ends at the first of two times: its absolute end (``expires_at``: the
sign-in plus ``remember_for``, else ``SESSION_TTL``), kept in the payload,
and its idle end (``SESSION_IDLE_TTL`` after its last use), kept as the
stored item's own expiry so every read and DynamoDB's TTL enforce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chalicelib.oauth.models.interaction import Authentication


@dataclass(frozen=True)
class Session:
    """What a session cookie stands for; its public ``sid`` (OIDC Front-/Back-Channel Logout) goes into ID tokens."""

    KIND: ClassVar[str] = "session"

    subject: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    sid: str
    expires_at: int  # the absolute end

    @classmethod
    def start(cls, authentication: Authentication, *, sid: str, lifetime: int, now: int) -> Session:
        """The session a sign-in starts, ending ``lifetime`` seconds from ``now`` at the latest."""
        return cls(
            subject=authentication.subject,
            auth_time=authentication.auth_time,
            acr=authentication.acr,
            amr=authentication.amr,
            sid=sid,
            expires_at=now + lifetime,
        )

    def idle_end(self, now: int, idle_ttl: int) -> int:
        """When it ends unless used again: ``idle_ttl`` from ``now``, never past its absolute end."""
        return min(self.expires_at, now + idle_ttl)

    def used(self, idle_until: int, now: int, idle_ttl: int) -> int | None:
        """The new idle end of a session stored idle ``idle_until``, used at ``now``; None: not worth a write.

        It moves only by a tenth of the idle time or more (also backwards, for a
        session stored before a shorter idle time): a busy session writes once
        per ``idle_ttl / 10``, not on every request.
        """
        idle_end = self.idle_end(now, idle_ttl)
        return idle_end if abs(idle_end - idle_until) >= max(1, idle_ttl // 10) else None
