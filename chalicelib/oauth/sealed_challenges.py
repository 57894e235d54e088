"""Challenges that carry their own flow, so an anonymous visit stores nothing (issue 10 item 1).

Anyone can send ``GET /oauth2/auth`` by the million.  When the login app is
Tollgate's own page, the ``login_challenge`` it is sent is the pending flow
itself, sealed (:mod:`chalicelib.oauth.sealing`: AES-256-GCM, a key derived
from the pepper for this purpose, the challenge kind as associated data) with
its expiry and a random id inside.  Nothing is written until the person signs
in: the answer (the verifier) is derived from the challenge's id (an HMAC
under another derived key) and stored only if absent, so a sealed challenge,
like a stored one, is answered once.  A tampered, expired or foreign value
opens as nothing, the same as an unknown challenge.

What a stored challenge counts on its own item, a sealed one counts on a
small state item (``STATE_KIND``, keyed by a digest of its id, living as long
as it does), written only once someone posts a password: the attempts made
on it (each counted by one conditional write before the password is hashed,
at most ``LOGIN_CHALLENGE_MAX_ATTEMPTS``), and whether it was answered (the
answer closes it in the transaction that stores the verifier).

The flow stays bound to the browser as before: it holds the digest of the
browser's flow cookie, checked when the verifier comes back.  A team's own
login app gets a stored challenge instead (it reads it through ``login get``),
and so does a flow too large to travel in a URL (``MAX_LENGTH``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.oauth.ports import Pepper
from chalicelib.oauth.sealing import Sealer
from chalicelib.tokens.hashing import digest

PREFIX = "s."  # a stored challenge is 43 characters of base64url: never a dot
# Far below API Gateway's 10 KB for the login page's URL and the 4 KiB a form field may hold
# (``request.DEFAULT_MAX_BYTES``); a typical flow seals to about 1 KB.
MAX_LENGTH = 3072
STATE_KIND = "sealed_challenge"  # a sealed challenge's attempts and answer, once it has any


@dataclass(frozen=True)
class Opened:
    """A sealed challenge, opened."""

    id: str  # random: its verifier and its state item derive from it
    payload: dict[str, Any]
    expires_at: int

    def state_id(self, kind: str) -> str:
        """The key of its state item (``STATE_KIND``): nothing a reader of the table can open."""
        return digest(f"{kind}:{self.id}")


class SealedChallenges:
    def __init__(self, pepper: Pepper, *, ttl: int) -> None:
        self._box = Sealer(pepper, "challenge")
        self._verifiers = Sealer(pepper, "challenge verifier")
        self._ttl = ttl

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(PREFIX)

    def seal(self, kind: str, payload: dict[str, Any]) -> str | None:
        """``payload`` as a ``kind`` challenge valid for the TTL; None if it would be longer than ``MAX_LENGTH``."""
        body = {"payload": payload, "expires_at": int(clock.now()) + self._ttl, "id": secrets.token_urlsafe(16)}
        data = json.dumps(body, separators=(",", ":")).encode()
        value = PREFIX + self._box.seal(data, context=kind.encode())
        return value if len(value) <= MAX_LENGTH else None

    def open(self, kind: str, value: str) -> Opened | None:
        """The challenge; None if it is not a live ``kind`` challenge sealed here."""
        if not self.is_sealed(value) or len(value) > MAX_LENGTH:
            return None
        data = self._box.open(value.removeprefix(PREFIX), context=kind.encode())
        if data is None:
            return None
        body = json.loads(data)
        if body["expires_at"] <= clock.now():
            return None
        return Opened(body["id"], body["payload"], int(body["expires_at"]))

    def verifier(self, kind: str, id: str) -> str:
        """The one verifier that answers challenge ``id`` (a ``kind`` verifier): unguessable without the pepper."""
        return self._verifiers.mac(f"{kind}:{id}".encode())
