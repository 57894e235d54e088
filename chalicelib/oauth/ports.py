"""The ports the protocol core needs from the outside world.

Storage and key modules implement these; the core only sees the protocols,
so it reads without knowing about DynamoDB, Secrets Manager or KMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from chalicelib.oauth.clients import Client
from chalicelib.oauth.users import User
from chalicelib.tokens.jws import JwsKeys


class SecretChanged(Exception):
    """``replace`` found another secret than the one the caller read: someone rotated it meanwhile."""


class ClientLookup(Protocol):
    def find(self, client_id: str, *, fresh: bool = False) -> Client | None:
        """A registered client; ``fresh`` bypasses the container cache."""


class ClientRepository(ClientLookup, Protocol):
    def create(self, client: Client) -> None:
        """Store a new client; fails if the id exists."""

    def replace(self, client: Client, *, if_secret_hash: str | None = None) -> None:
        """Overwrite an existing client; fails if it does not exist, or if its secret hash is not ``if_secret_hash``."""

    def delete(self, client_id: str) -> bool: ...

    def list(self) -> list[Client]: ...


class Pepper(Protocol):
    def pepper(self) -> bytes:
        """The server-side key of client secret hashes and of keys derived from people's data."""


@dataclass(frozen=True)
class StateItem:
    """One short-lived artefact: a code, a token record, a challenge..."""

    kind: str
    id: str  # the hash of the artefact, never the artefact
    payload: dict[str, Any]
    expires_at: int
    grant_id: str | None = None
    user_code: str | None = None
    consumed_at: int | None = None
    counter: int = 0  # what ``increment`` has counted; 0 otherwise
    counted_at: int | None = None  # the time of the last ``increment`` (a device code's last poll)
    first_counted_at: int | None = None  # the time of the first ``increment`` (a device code's first poll)
    subject: str | None = None  # the person it belongs to (sessions, consents, grant records): indexed
    # Grant records: ``consume`` refuses the item before this time (``TooEarly``).  Sign-out
    # markers: what the person did up to this second is void (``insert_all``'s ``Unless``).
    not_before: int | None = None

    def usable(self, now: float) -> bool:
        """Live at ``now`` and not consumed: what reads return and conditional writes require."""
        return self.expires_at > now and self.consumed_at is None


class AlreadyConsumed(Exception):
    """``consume`` lost: the item was consumed before, by this or another request."""

    def __init__(self, item: StateItem) -> None:
        super().__init__(item.kind)
        self.item = item


class TooEarly(Exception):
    """``consume`` refused: the item is live and unconsumed but its ``not_before`` has not come; nothing changed."""

    def __init__(self, item: StateItem) -> None:
        super().__init__(item.kind)
        self.item = item


class Unless(NamedTuple):
    """A key that refuses ``insert_all`` while it is live, unless its ``not_before`` is earlier than ``since``.

    With ``since`` 0 any live item refuses (a revoked-grant marker); with a
    time, only one dated at or after it, or undated (a sign-out since a sign-in).
    """

    kind: str
    id: str
    since: int = 0


class StateStore(Protocol):
    """node-oidc-provider's adapter interface, on one table with TTL.

    Nine methods: the adapter's ``upsert``, ``find`` (``find_many`` for one
    round trip), ``find_by_user_code``, ``find_by_subject`` (the grant-holder
    index), ``consume``, ``destroy``, ``revoke_by_grant``; one atomic
    ``increment``; one compare-and-swap ``swap``; and ``insert_all``, the one
    transaction.  What each artefact means by them is its model's.
    """

    def upsert(self, item: StateItem) -> None: ...

    def find(self, kind: str, id: str, *, even_consumed: bool = False) -> StateItem | None:
        """The live item, or None if absent, expired or consumed (``even_consumed``: consumed too, as it is)."""

    def find_many(self, keys: list[tuple[str, str]]) -> list[StateItem]:
        """The live items among ``(kind, id)`` keys, in one round trip."""

    def find_by_user_code(self, user_code: str) -> StateItem | None: ...

    def find_by_subject(self, subject: str) -> list[StateItem]:
        """Every live, unconsumed item stored with this ``subject`` (index read: may lag a moment)."""

    def consume(self, kind: str, id: str) -> StateItem:
        """Mark consumed in one conditional write; raise ``AlreadyConsumed``, ``TooEarly`` or ``KeyError``.

        One call whatever the outcome: a refused write says why by itself.
        """

    def destroy(self, kind: str, id: str) -> None: ...

    def revoke_by_grant(self, grant_id: str) -> int:
        """Delete every item issued under ``grant_id``; how many went."""

    def increment(
        self, kind: str, id: str, *, at: int | None = None, create_until: int | None = None
    ) -> StateItem | None:
        """Count one on an item in one conditional write (never read-then-write): the item as it was before.

        On a live (at ``at``, default now), unconsumed item: adds 1 to
        ``counter``, sets ``counted_at`` to ``at`` and ``first_counted_at`` if
        unset.  Refused (expired or consumed), the item comes back as it is,
        unchanged, by the same call (``before.usable(at)`` tells which); None if
        absent.  With ``create_until``, an absent or expired item is no refusal
        but created afresh (empty payload, that expiry, counting 1) and returned
        as it was: fresh (counter 0); a live one keeps its expiry, so a window is
        fixed from its first count (``models.counter``).  Racing callers each see another count.
        """

    def swap(self, before: StateItem, after: StateItem) -> bool:
        """Replace ``before`` by ``after`` (same kind and id) in one conditional write, if the stored item is
        still live and holds the payload and ``consumed_at`` that ``before`` was read with (compare-and-swap).

        Only what differs is written, among payload, expiry and ``consumed_at``
        (None removes it: a consume undone); counts stay.  False otherwise,
        nothing written: of racing callers that read the same item one wins, and
        an item destroyed, expired or consumed meanwhile is never brought back.
        """

    def insert_all(
        self, items: list[StateItem], *, unless: Sequence[Unless] = (), closing: Sequence[tuple[str, str, int]] = ()
    ) -> bool:
        """Store all of ``items`` in one transaction, only if none of them is live and no ``unless`` key refuses.

        The one multi-item write, kept because issuing needs it: a grant's new
        tokens (code or refresh token and opaque access token records) are
        stored together or not at all, checked against the grant's revocation
        and the person's sign-out markers in the same call (one
        TransactWriteItems, the issuing floor), and a device code with its
        user-code guard.  Each ``closing`` ``(kind, id, expires_at)`` key is
        consumed in the same transaction, to live until ``expires_at``, only if
        it is not consumed yet (an absent or expired one is created consumed):
        a sealed challenge's state, closed by its one answer.

        False if one was: nothing is then stored.
        """


class UserRepository(Protocol):
    """The built-in user store (the Users table)."""

    def find_by_username(self, username: str) -> User | None:
        """The user with this (normalised) username, in one index query."""

    def get(self, user_id: str) -> User | None:
        """The user whose ``sub`` is ``user_id``, in one read."""

    def create(self, user: User) -> None:
        """Store a new user; ``UsernameTaken`` if the username is in use, even under a race."""

    def set_disabled(self, user_id: str, disabled: bool) -> User | None:
        """Set or clear the ``disabled`` flag in one conditional write; the user, or None if there is none."""


class KeyProvider(JwsKeys, Protocol):
    """Signing and verification keys (declared with JWS in :mod:`chalicelib.tokens.jws`), plus what is published."""

    def jwks(self) -> dict[str, Any]:
        """The public JWK set: next, current and previous keys."""
