"""The signing JWK set: key generation, rotation order, signing and public parts.

A set holds, per algorithm, up to three keys: ``next`` (published ahead so
caches learn it before it signs), ``current`` (signs) and ``previous``
(still verifies tokens signed before the last rotation).  This module is
pure cryptography; where the set is stored is another module's concern.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ALGORITHMS = ("RS256", "ES256")
STATUSES = ("next", "current", "previous")
RSA_BITS = 2048
_P256_COORDINATE_BYTES = 32
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


def new_private_jwk(alg: str, status: str) -> dict[str, Any]:
    """A fresh private JWK for ``alg`` carrying its ``kid`` and rotation ``status``."""
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
        "created_at": int(time.time()),
    }


def initial_keyset() -> dict[str, Any]:
    """A first set: a ``current`` and a ``next`` key for every algorithm."""
    return {"keys": [new_private_jwk(alg, status) for alg in ALGORITHMS for status in ("current", "next")]}


def rotate(keyset: dict[str, Any]) -> dict[str, Any]:
    """Promote next → current → previous, drop the old previous, add a new next."""
    promoted = {"next": "current", "current": "previous"}
    keys = [{**k, "status": promoted[k["status"]]} for k in keyset["keys"] if k["status"] in promoted]
    keys += [new_private_jwk(alg, "next") for alg in ALGORITHMS]
    return {"keys": keys}


def public_jwk(private_jwk: dict[str, Any]) -> dict[str, Any]:
    """The public members only, as JWKS publishes them."""
    # key_ops from the private key would say "sign"; `use` already says what a verifier needs.
    hidden = (*_PRIVATE_MEMBERS, "key_ops", "status", "created_at")
    return {name: value for name, value in private_jwk.items() if name not in hidden}


@dataclass(frozen=True)
class LoadedKey:
    """A parsed key: parsing RSA JWKs is slow, so it happens once per load."""

    kid: str
    alg: str
    status: str
    private_key: Any
    public_jwk: dict[str, Any]

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "RS256":
            return self.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        der = self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(_P256_COORDINATE_BYTES, "big")


def load(private_jwk: dict[str, Any]) -> LoadedKey:
    algorithm = RSAAlgorithm if private_jwk["alg"] == "RS256" else ECAlgorithm
    private_key = algorithm.from_jwk(json.dumps(private_jwk))
    return LoadedKey(
        private_jwk["kid"], private_jwk["alg"], private_jwk["status"], private_key, public_jwk(private_jwk)
    )
