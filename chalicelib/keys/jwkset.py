"""The signing JWK set: key generation, rotation order, signing and public parts.

A set holds, per algorithm, a ``next`` key (published ahead so caches learn
it before it signs), a ``current`` key (signs) and ``previous`` keys (still
verify tokens signed before a rotation: as many as may have signed a token
that is still alive).  This module is pure cryptography and arithmetic on
times; where the set is stored, and what the clock says, is another module's
concern.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from chalicelib import clock
from chalicelib.tokens.jws import SIGNING_ALGORITHMS, b64url

ALGORITHMS = SIGNING_ALGORITHMS
STATUSES = ("next", "current", "previous")
RSA_BITS = 2048
_P256_COORDINATE_BYTES = 32
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
# RFC 7518 §3.3 and §3.4: built once, not per signature (they are plain immutable descriptions).
_RS256_PADDING, _SHA256 = padding.PKCS1v15(), hashes.SHA256()
_ES256 = ec.ECDSA(_SHA256)


class NotYet(Exception):
    """A rotation would let a key sign before every relying party can know it (or drop one still needed)."""

    def __init__(self, ready_at: int) -> None:
        super().__init__(f"rotation possible from {ready_at}")
        self.ready_at = ready_at


def new_private_jwk(alg: str, status: str, now: int | None = None) -> dict[str, Any]:
    """A fresh private JWK for ``alg`` carrying its ``kid``, rotation ``status`` and ``created_at``."""
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm  # only the rotation function makes keys

    if alg == "RS256":
        jwk = RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, RSA_BITS), as_dict=True)
    elif alg == "ES256":
        jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    return {
        **jwk,
        "kid": secrets.token_urlsafe(12),
        "alg": alg,
        "use": "sig",
        "status": status,
        "created_at": int(clock.now()) if now is None else now,
    }


def initial_keyset(now: int | None = None) -> dict[str, Any]:
    """A first set: a ``current`` and a ``next`` key for every algorithm."""
    return {"keys": [new_private_jwk(alg, status, now) for alg in ALGORITHMS for status in ("current", "next")]}


def rotate(keyset: dict[str, Any], *, now: int, pace: int, retention: int) -> dict[str, Any]:
    """Promote next → current → previous and add a new next; refuse (``NotYet``) while a next is younger than ``pace``.

    ``pace`` is how long a key must have been published before it signs
    (every relying party's JWKS cache has seen it); ``retention`` is how long
    a retired key may still verify live tokens.  Previous keys younger in
    retirement than that stay, however many rotations happened meanwhile.
    """
    nexts = [k for k in keyset["keys"] if k["status"] == "next"]
    ready_at = max((k.get("created_at", 0) + pace for k in nexts), default=now)
    if now < ready_at:
        raise NotYet(ready_at)
    promoted = {k["alg"] for k in nexts}  # an algorithm without a next keeps its current: nothing unpublished signs
    keys = [
        {**k, "retired_at": k.get("retired_at", now)}  # undated: count as retired just now
        for k in keyset["keys"]
        if k["status"] == "previous" and k.get("retired_at", now) + retention > now
    ]
    for key in keyset["keys"]:
        if key["status"] == "current" and key["alg"] in promoted:
            keys.append({**key, "status": "previous", "retired_at": now})
        elif key["status"] in ("current", "next"):
            keys.append({**key, "status": "current"})
    keys += [new_private_jwk(alg, "next", now) for alg in ALGORITHMS]
    return {"keys": keys}


def revoke(keyset: dict[str, Any], kid: str, *, now: int) -> dict[str, Any]:
    """The set without ``kid`` (``KeyError`` if absent), still able to sign with every algorithm.

    Revoking ``current`` promotes its ``next`` at once: an emergency overrides
    the pace, and ``next`` has been published for a while (usually a whole
    rotation period).  A fresh ``next`` replaces the one promoted or revoked.
    """
    revoked = next((k for k in keyset["keys"] if k["kid"] == kid), None)
    if revoked is None:
        raise KeyError(kid)
    keys = [k for k in keyset["keys"] if k["kid"] != kid]
    alg = revoked["alg"]
    if revoked["status"] == "current":
        successor = next((k for k in keys if k["alg"] == alg and k["status"] == "next"), None)
        keys = [k for k in keys if k is not successor]
        keys.append({**successor, "status": "current"} if successor else new_private_jwk(alg, "current", now))
    if revoked["status"] in ("current", "next"):
        keys.append(new_private_jwk(alg, "next", now))
    return {"keys": keys}


def public_jwk(private_jwk: dict[str, Any]) -> dict[str, Any]:
    """The public members only, as JWKS publishes them."""
    # key_ops from the private key would say "sign"; `use` already says what a verifier needs.
    hidden = (*_PRIVATE_MEMBERS, "key_ops", "status", "created_at", "retired_at")
    return {name: value for name, value in private_jwk.items() if name not in hidden}


@dataclass(frozen=True)
class LoadedKey:
    """A parsed key: parsing RSA JWKs is slow, so it happens once per load."""

    kid: str
    alg: str
    status: str
    private_key: Any
    public_jwk: dict[str, Any]

    @cached_property
    def public_key(self) -> Any:
        # One object per key: OpenSSL prepares its arithmetic (RSA's Montgomery form) on the first
        # verification and keeps it with the object; a fresh public_key() would redo it per token.
        return self.private_key.public_key()

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "RS256":
            return self.private_key.sign(signing_input, _RS256_PADDING, _SHA256)
        der = self.private_key.sign(signing_input, _ES256)
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(_P256_COORDINATE_BYTES, "big")


def _rsa_private_key(private_jwk: dict[str, Any]) -> Any:
    """Our own RSA key, without OpenSSL's consistency check (RSA_check_key).

    The check tests p and q for primality: ~45 ms per 2048-bit key, three
    keys per load, on every cold start and every ``KEY_CACHE_SECONDS``
    re-read (ten times that at 128 MB).  It guards against malformed keys
    from elsewhere; these were generated by :func:`new_private_jwk` and live
    in a secret only the rotation function may write, and OpenSSL checks
    every CRT signature before returning it anyway.
    """
    if not all(name in private_jwk for name in _PRIVATE_MEMBERS):
        from jwt.algorithms import RSAAlgorithm

        return RSAAlgorithm.from_jwk(json.dumps(private_jwk))  # d alone: let PyJWT recover the primes
    number = {name: _uint(private_jwk[name]) for name in ("n", "e", *_PRIVATE_MEMBERS)}
    numbers = rsa.RSAPrivateNumbers(
        p=number["p"],
        q=number["q"],
        d=number["d"],
        dmp1=number["dp"],
        dmq1=number["dq"],
        iqmp=number["qi"],
        public_numbers=rsa.RSAPublicNumbers(number["e"], number["n"]),
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def _ec_private_key(private_jwk: dict[str, Any]) -> ec.EllipticCurvePrivateKey:
    """A P-256 key from its JWK members (RFC 7518 §6.2), with ``cryptography`` alone.

    PyJWT's ``ECAlgorithm.from_jwk`` does the same, but importing PyJWT costs a
    cold start 25-75 ms (it loads ``cryptography.x509`` and its JWKS client),
    which only verifying a token needs.  ``cryptography`` refuses a point off
    the curve or one that is not ``d``'s public point.
    """
    if private_jwk.get("kty") != "EC" or private_jwk.get("crv") != "P-256":
        raise ValueError("not a P-256 EC key")
    x, y, d = (_uint(private_jwk[name], _P256_COORDINATE_BYTES) for name in ("x", "y", "d"))
    return ec.EllipticCurvePrivateNumbers(d, ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1())).private_key()


def public_jwk_of(public_key: Any, *, kid: str, alg: str) -> dict[str, Any]:
    """A public key as JWKS publishes it (RFC 7518 §6.2.1, §6.3.1), with ``cryptography`` alone.

    ``use`` and no ``key_ops``: RFC 7517 §4.3 says the two SHOULD NOT be used
    together (PyJWT's ``to_jwk`` adds ``key_ops`` to RSA keys).
    """
    numbers = public_key.public_numbers()
    if alg == "RS256":
        members = {"kty": "RSA", "n": _b64uint(numbers.n), "e": _b64uint(numbers.e)}
    else:
        x, y = (_b64uint(value, _P256_COORDINATE_BYTES) for value in (numbers.x, numbers.y))
        members = {"kty": "EC", "crv": "P-256", "x": x, "y": y}
    return {**members, "kid": kid, "alg": alg, "use": "sig"}


def _b64uint(value: int, length: int | None = None) -> str:
    """RFC 7518 §2 Base64urlUInt: big-endian, the fewest octets (EC coordinates: their full ``length``)."""
    return b64url(value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big"))


def _uint(member: str, length: int | None = None) -> int:
    """A JWK's unsigned big-endian integer (RFC 7518 §2, base64url without padding); EC members have a fixed length."""
    raw = base64.urlsafe_b64decode(member + "=" * (-len(member) % 4))
    if length is not None and len(raw) != length:
        raise ValueError(f"a P-256 member must be {length} bytes")
    return int.from_bytes(raw, "big")


def load(private_jwk: dict[str, Any]) -> LoadedKey:
    parse = _rsa_private_key if private_jwk["alg"] == "RS256" else _ec_private_key
    private_key = parse(private_jwk)
    return LoadedKey(
        private_jwk["kid"], private_jwk["alg"], private_jwk["status"], private_key, public_jwk(private_jwk)
    )
