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
from functools import lru_cache
from typing import Any, Protocol

import jwt
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

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


def _b64url(data: bytes) -> str:
    """RFC 7515 §2 base64url without padding (what ``base64.urlsafe_b64encode`` gives, in one call)."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URL_SAFE).decode("ascii")


@lru_cache(maxsize=64)
def _header_segment(alg: str, kid: str, typ: str) -> str:
    """A key's protected header for ``typ``: the same for every token it signs, so encoded once.

    A handful of keys (``current``, then a rotation's successor) and two types
    live at a time; the bound only keeps a long-lived container from collecting
    retired ones forever.
    """
    return _b64url(json_text.compact({"alg": alg, "kid": kid, "typ": typ}).encode())


def sign(key: SigningKey, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    signing_input = f"{_header_segment(key.alg, key.kid, typ)}.{_b64url(json_text.compact(claims).encode())}"
    return f"{signing_input}.{_b64url(key.sign(signing_input.encode()))}"


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


_BASE64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def decode_segment(segment: bytes, name: str) -> bytes:
    """One JWS segment, decoded under PyJWT 2.15's rules: at most two ``=``, only base64url, canonical.

    PyJWT's own ``PyJWS._decode_base64url_segment`` with its alphabet check
    (GHSA-hxm8-2xgr-2p9m) done by ``bytes.translate`` in C: PyJWT tests each
    character in a Python generator, about 150 µs for an access token, more
    than the RSA verification itself.  tests/test_jws.py holds the two to the
    same outcome on every kind of segment.
    """
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if (
        padding > 2
        or (padding and len(segment) % 4)
        or len(stripped) % 4 == 1
        or stripped.translate(None, _BASE64URL_ALPHABET)  # what is left is not base64url
    ):
        raise DecodeError(f"Invalid {name} padding")
    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err
    if base64url_encode(decoded) != stripped:
        raise DecodeError(f"Invalid {name} padding")
    return decoded


class _PyJWS(PyJWS):
    _decode_base64url_segment = staticmethod(decode_segment)


class _PyJWT(jwt.PyJWT):
    """PyJWT's decoder (every check of ``jwt.decode``) over the JWS decoder above."""

    def __init__(self) -> None:
        super().__init__()
        self._jws = _PyJWS(options=self._get_sig_options())


_DECODER = _PyJWT()


def verify(keys: VerificationKeys, token: str, *, typ: str, issuer: str, verify_exp: bool = True) -> dict[str, Any]:
    """The claims of a token we signed, or ``InvalidJws``."""
    header = _unverified_header(token)
    found = keys.verification_key(str(header.get("kid", "")))
    token_typ = header.get("typ")
    if found is None or not isinstance(token_typ, str) or token_typ.lower() != typ:
        raise InvalidJws("unknown kid or wrong typ")
    alg, public_key = found
    try:
        return _DECODER.decode(
            token,
            public_key,
            algorithms=[alg],
            issuer=issuer,
            options={"verify_aud": False, "verify_exp": verify_exp, "require": ["exp", "iat", "iss", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidJws(str(exc)) from exc
