"""Revocation markers: what they name is void until they expire (RFC 7009 §2, RFC 9700 §4.5 and §4.14.2).

A marker's payload is empty; what it says is in its key and times.  A
revoked JWT is remembered by its ``jti`` until it would have expired; a
revoked grant until every token it could have issued has; a person's
sign-out (``SignedOut``) voids whatever stems from a sign-in or an issue up
to its second, so a sign-in in that very second counts as before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chalicelib.oauth.ports import StateItem


@dataclass(frozen=True)
class Revocation:
    KIND: ClassVar[str] = ""

    id: str  # the jti, grant_id or sub it names
    expires_at: int

    def voids(self, issued_at: int) -> bool:
        """Whether what it names, issued (or signed in) at ``issued_at``, is void: a token or grant always is."""
        return True

    def stored(self) -> StateItem:
        return StateItem(self.KIND, self.id, {}, self.expires_at)


class RevokedToken(Revocation):
    KIND: ClassVar[str] = "revoked_jti"


class RevokedGrant(Revocation):
    KIND: ClassVar[str] = "revoked_grant"


@dataclass(frozen=True)
class SignedOut(Revocation):
    KIND: ClassVar[str] = "signed_out"

    since: int | None = None  # the second of the sign-out (stored as the item's not_before)

    def voids(self, issued_at: int) -> bool:
        return self.since is not None and issued_at <= self.since

    def stored(self) -> StateItem:
        return StateItem(self.KIND, self.id, {}, self.expires_at, not_before=self.since)


_KINDS: dict[str, type[Revocation]] = {cls.KIND: cls for cls in (RevokedToken, RevokedGrant, SignedOut)}


def revocation_of(item: StateItem) -> Revocation:
    """The marker ``item`` stores."""
    cls = _KINDS[item.kind]
    if cls is SignedOut:
        return SignedOut(item.id, item.expires_at, since=item.not_before)
    return cls(item.id, item.expires_at)
