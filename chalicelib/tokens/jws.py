"""JWS compact serialization (RFC 7515 §7.1) over any signing key.

Signing goes through the key provider's ``SigningKey.sign`` so a key held
in memory and a key that never leaves KMS produce tokens the same way;
verification uses PyJWT with the algorithm pinned to the key's own, which
rules out ``alg: none`` and algorithm confusion.

The key protocols are declared here, at the bottom of the layers: the key
modules implement them and the protocol core's ``KeyProvider`` extends them.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache, lru_cache
from typing import Any, Protocol

from chalicelib.tokens import json_text

# RFC 7518 §3.1: the JWS algorithms Tollgate signs with (keys, discovery and client metadata all read this).
SIGNING_ALGORITHMS = ("RS256", "ES256")


class SigningKey(Protocol):
    kid: str
    alg: str

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature (JOSE form, e.g. ``r||s`` for ES256)."""


class VerificationKeys(Protocol):
    def verification_key(self, kid: str) -> tuple[str, Any] | None:
        """``(alg, public key object)`` for a published ``kid``."""


class JwsKeys(VerificationKeys, Protocol):
    def signing_key(self, alg: str) -> SigningKey:
        """The ``current`` key for ``alg``."""


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    """RFC 7515 §2 base64url without padding (what ``base64.urlsafe_b64encode`` gives, in one call)."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URL_SAFE).decode("ascii")


@lru_cache(maxsize=64)
def _header_segment(alg: str, kid: str, typ: str) -> str:
    """A key's protected header for ``typ``: the same for every token it signs, so encoded once.

    A handful of keys (``current``, then a rotation's successor) and two types
    live at a time; the bound only keeps a long-lived container from collecting
    retired ones forever.
    """
    return b64url(json_text.compact({"alg": alg, "kid": kid, "typ": typ}).encode())


def sign(key: SigningKey, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    signing_input = f"{_header_segment(key.alg, key.kid, typ)}.{b64url(json_text.compact(claims).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


class InvalidJws(Exception):
    """Not a JWS signed by one of our published keys, or its claims fail."""


def _unverified_header(token: str) -> dict[str, Any]:
    """The protected header, read only to pick the key; ``jwt.decode`` then checks the whole token.

    Cheaper than ``jwt.get_unverified_header``, which decodes and validates
    all three segments only for ``jwt.decode`` to do it again.  Leniency here
    cannot let a token through: a header PyJWT would refuse fails its decode.
    """
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError) as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidJws("malformed") from exc
    if not isinstance(header, dict):
        raise InvalidJws("malformed")
    return header


def verify(keys: VerificationKeys, token: str, *, typ: str, issuer: str, verify_exp: bool = True) -> dict[str, Any]:
    """The claims of a token we signed, or ``InvalidJws``."""
    header = _unverified_header(token)
    found = keys.verification_key(str(header.get("kid", "")))
    token_typ = header.get("typ")
    if found is None or not isinstance(token_typ, str) or token_typ.lower() != typ:
        raise InvalidJws("unknown kid or wrong typ")
    alg, public_key = found
    import jwt

    try:
        return _decoder().decode(
            token,
            public_key,
            algorithms=[alg],
            issuer=issuer,
            options={"verify_aud": False, "verify_exp": verify_exp, "require": ["exp", "iat", "iss", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidJws(str(exc)) from exc


@cache
def _decoder() -> Any:
    """PyJWT's decoder, imported on the first verification: a cold container's first token signs, never verifies,
    and PyJWT's import is tens of milliseconds of a cold start."""
    from chalicelib.tokens.pyjwt_decoder import decoder

    return decoder()
