"""The ports the protocol core needs from the outside world.

Storage and key modules implement these; the core only sees the protocols,
so it reads without knowing about DynamoDB, Secrets Manager or KMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.oauth.clients import Client


class ClientLookup(Protocol):
    def find(self, client_id: str, *, fresh: bool = False) -> Client | None:
        """A registered client; ``fresh`` bypasses the container cache."""


class ClientRepository(ClientLookup, Protocol):
    def create(self, client: Client) -> None:
        """Store a new client; fails if the id exists."""

    def replace(self, client: Client) -> None:
        """Overwrite an existing client; fails if it does not exist."""

    def delete(self, client_id: str) -> bool: ...

    def list(self) -> list[Client]: ...


class Pepper(Protocol):
    def pepper(self) -> bytes:
        """The server-side key of client secret hashes."""


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


class AlreadyConsumed(Exception):
    """``consume`` lost: the item was consumed before, by this or another request."""

    def __init__(self, item: StateItem) -> None:
        super().__init__(item.kind)
        self.item = item


class StateStore(Protocol):
    """node-oidc-provider's adapter interface, on one table with TTL."""

    def upsert(self, item: StateItem) -> None: ...

    def find(self, kind: str, id: str) -> StateItem | None:
        """The live item, or None if absent, expired or consumed."""

    def consume(self, kind: str, id: str) -> StateItem:
        """Mark consumed in one conditional write; raise ``AlreadyConsumed`` or ``KeyError``."""

    def destroy(self, kind: str, id: str) -> None: ...

    def revoke_by_grant(self, grant_id: str) -> int:
        """Delete every item issued under ``grant_id``; how many went."""

    def find_by_user_code(self, user_code: str) -> StateItem | None: ...


class SigningKey(Protocol):
    kid: str
    alg: str

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature (JOSE form, e.g. ``r||s`` for ES256)."""


class KeyProvider(Protocol):
    def signing_key(self, alg: str) -> SigningKey:
        """The ``current`` key for ``alg``."""

    def verification_key(self, kid: str) -> tuple[str, Any] | None:
        """``(alg, public key object)`` for a published ``kid``."""

    def jwks(self) -> dict[str, Any]:
        """The public JWK set: next, current and previous keys."""
