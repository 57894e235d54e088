"""Client secrets: generation, hashing, comparison (opaque token values live in ``chalicelib/tokens``).

Client secrets are 256-bit random strings, so a fast keyed hash is the right
tool: HMAC-SHA-256 under a server-side pepper.  A slow password hash
(bcrypt, scrypt, argon2) exists to make guessing *low-entropy* human
passwords expensive; against 2^256 possibilities guessing is already
hopeless, and a slow hash would only add tens of milliseconds to every
token request.  The pepper (kept in Secrets Manager, never in the table)
means a leaked Clients table alone cannot even be used to check a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


@lru_cache(maxsize=4)
def _keyed(pepper: bytes) -> hmac.HMAC:
    """HMAC-SHA-256 keyed with ``pepper``, never updated: each hash copies it (one pepper per container)."""
    return hmac.new(pepper, digestmod=hashlib.sha256)


def hash_client_secret(pepper: bytes, client_secret: str) -> str:
    # Copying a keyed HMAC skips OpenSSL's key schedule and digest look-up, half of a fresh hmac.new per request.
    mac = _keyed(pepper).copy()
    mac.update(client_secret.encode())
    return mac.hexdigest()


# Compared against in place of a hash that is absent (unknown client, no
# previous secret), so every check does the same work.  No HMAC-SHA-256
# output is expected to equal it.
NO_HASH = "0" * 64


def client_secret_matches(pepper: bytes, client_secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_client_secret(pepper, client_secret), stored_hash)


def client_secret_matches_either(pepper: bytes, client_secret: str, current_hash: str, previous_hash: str) -> bool:
    """True if ``client_secret`` is the current or the previous secret.

    One HMAC and always both comparisons, combined without short-circuit,
    so the time taken does not tell which one matched.
    """
    presented = hash_client_secret(pepper, client_secret)
    current = hmac.compare_digest(presented, current_hash or NO_HASH)
    previous = hmac.compare_digest(presented, previous_hash or NO_HASH)
    return current | previous
