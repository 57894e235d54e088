"""PyJWT's decoder (every check of ``jwt.decode``) with its base64url alphabet test done in C.

Imported by :func:`chalicelib.tokens.jws.verify` on first use only: signing
needs no PyJWT, so a cold container's first token does not pay its import.
"""

from __future__ import annotations

import binascii

import jwt
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

_BASE64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def decode_segment(segment: bytes, name: str) -> bytes:
    """One JWS segment, decoded under PyJWT 2.15's rules: at most two ``=``, only base64url, canonical.

    PyJWT's own ``PyJWS._decode_base64url_segment`` with its alphabet check
    (GHSA-hxm8-2xgr-2p9m) done by ``bytes.translate`` in C: PyJWT tests each
    character in a Python generator, about 150 µs for an access token, more
    than the RSA verification itself.  tests/unit/test_jws.py holds the two to the
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


def decoder() -> jwt.PyJWT:
    return _PyJWT()
