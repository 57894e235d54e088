"""Client secrets and opaque token values: generation, hashing, comparison.

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


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def hash_client_secret(pepper: bytes, client_secret: str) -> str:
    return hmac.new(pepper, client_secret.encode(), hashlib.sha256).hexdigest()


def client_secret_matches(pepper: bytes, client_secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_client_secret(pepper, client_secret), stored_hash)
