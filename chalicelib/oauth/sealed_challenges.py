"""Challenges that carry their own flow, so an anonymous visit stores nothing (issue 10 item 1).

Anyone can send ``GET /oauth2/auth`` by the million.  When the login app is
Tollgate's own page, the ``login_challenge`` it is sent is the pending flow
itself, sealed (:mod:`chalicelib.oauth.sealing`: AES-256-GCM, a key derived
from the pepper for this purpose, the challenge kind as associated data) with
its expiry and a random id inside.  Nothing is written until the person signs
in: the answer (the verifier) is the first write, and it is derived from the
challenge's id (an HMAC under another derived key) and stored only if absent,
so a sealed challenge, like a stored one, is answered once.  A tampered,
expired or foreign value opens as nothing, the same as an unknown challenge.

The flow stays bound to the browser as before: it holds the digest of the
browser's flow cookie, checked when the verifier comes back.  A team's own
login app gets a stored challenge instead (it reads it through ``login get``),
and so does a flow too large to travel in a URL (``MAX_LENGTH``).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from chalicelib.oauth.ports import Pepper
from chalicelib.oauth.sealing import Sealer

PREFIX = "s."  # a stored challenge is 43 characters of base64url: never a dot
# Far below API Gateway's 10 KB for the login page's URL and the 4 KiB a form field may hold
# (``request.DEFAULT_MAX_BYTES``); a typical flow seals to about 1 KB.
MAX_LENGTH = 3072


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
        body = {"payload": payload, "expires_at": int(time.time()) + self._ttl, "id": secrets.token_urlsafe(16)}
        data = json.dumps(body, separators=(",", ":")).encode()
        value = PREFIX + self._box.seal(data, context=kind.encode())
        return value if len(value) <= MAX_LENGTH else None

    def open(self, kind: str, value: str) -> tuple[str, dict[str, Any]] | None:
        """The challenge's id and payload; None if it is not a live ``kind`` challenge sealed here."""
        if not self.is_sealed(value) or len(value) > MAX_LENGTH:
            return None
        data = self._box.open(value.removeprefix(PREFIX), context=kind.encode())
        if data is None:
            return None
        body = json.loads(data)
        if body["expires_at"] <= time.time():
            return None
        return body["id"], body["payload"]

    def verifier(self, kind: str, id: str) -> str:
        """The one verifier that answers challenge ``id`` (a ``kind`` verifier): unguessable without the pepper."""
        return self._verifiers.mac(f"{kind}:{id}".encode())
