"""Values only Tollgate can read: AES-256-GCM under keys derived from the pepper.

What the browser carries for us (a pending sign-in) or what the state table
should not hold in clear (a ``login_hint``) is sealed: encrypted and
authenticated with AES-256-GCM (NIST SP 800-38D), a fresh 96-bit nonce per
value, under a key derived from the pepper with HKDF-SHA256 (RFC 5869) and a
purpose label, so a value sealed for one purpose never opens as another and
the pepper itself keys nothing but client secret hashes.  A value that was
tampered with, sealed by another deployment or for another purpose does not
open: :meth:`Sealer.open` answers None, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chalicelib.oauth.ports import Pepper

NONCE_BYTES = 12  # GCM's 96-bit nonce; random nonces are safe far beyond the values one key seals here
TAG_BYTES = 16


def derive_key(pepper: Pepper, purpose: str) -> bytes:
    """A 256-bit key for ``purpose`` (HKDF-SHA256, RFC 5869 §2, the purpose as ``info``)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"tollgate {purpose}".encode())
    return hkdf.derive(pepper.pepper())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class Sealer:
    """Seals and opens values for one purpose; the key is derived on first use (the pepper is read lazily)."""

    def __init__(self, pepper: Pepper, purpose: str) -> None:
        self._pepper = pepper
        self._purpose = purpose

    @cached_property
    def _key(self) -> bytes:
        return derive_key(self._pepper, self._purpose)

    def seal(self, data: bytes, *, context: bytes = b"") -> str:
        """``data`` encrypted and authenticated (with ``context`` as associated data), base64url."""
        nonce = os.urandom(NONCE_BYTES)
        return _b64(nonce + AESGCM(self._key).encrypt(nonce, data, context))

    def open(self, sealed: str, *, context: bytes = b"") -> bytes | None:
        """What :meth:`seal` sealed with the same ``context``; None for anything else."""
        raw = _unb64(sealed) if sealed.isascii() else None
        # Only the one canonical spelling opens: no second string for the same value.
        if raw is None or len(raw) < NONCE_BYTES + TAG_BYTES or _b64(raw) != sealed:
            return None
        try:
            return AESGCM(self._key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context)
        except InvalidTag:
            return None

    def mac(self, data: bytes) -> str:
        """A keyed, deterministic tag of ``data`` (HMAC-SHA256 under this purpose's key), base64url."""
        return _b64(hmac.new(self._key, data, hashlib.sha256).digest())
