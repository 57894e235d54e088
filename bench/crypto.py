"""Sign and verify cost per algorithm, with the keys the key provider loaded.

Four figures per algorithm, so the JOSE layer's own cost shows next to the
raw cryptography: the bare signature, a whole JWS (header, claims, base64url),
the bare verification, and :func:`chalicelib.tokens.jws.verify` (which is
what introspection runs).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.world import ISSUER

CLAIMS: dict[str, Any] = {
    "iss": ISSUER,
    "sub": "a-client-id-of-22-chars",
    "aud": "https://api.example.com",
    "exp": 4102444800,
    "iat": 1700000000,
    "jti": "a-jti-of-22-characters",
    "client_id": "a-client-id-of-22-chars",
    "scope": "invoices:read invoices:write",
}
TYP = "at+jwt"


@dataclass(frozen=True)
class CryptoFigures:
    alg: str
    sign_us: float
    jws_sign_us: float
    verify_us: float
    jws_verify_us: float


def median_us(action: Callable[[], object], samples: int, clock: Callable[[], int]) -> float:
    times = []
    for _ in range(samples):
        start = clock()
        action()
        times.append((clock() - start) / 1000)
    return statistics.median(times)


def _raw_verifier(alg: str, key: Any, message: bytes) -> Callable[[], None]:
    """The bare signature check, as the cryptography library does it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    public = key.private_key.public_key()
    if alg == "RS256":
        signature = key.sign(message)
        return lambda: public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    der = key.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
    return lambda: public.verify(der, message, ec.ECDSA(hashes.SHA256()))


def measure_crypto(samples: int, clock: Callable[[], int] = time.thread_time_ns) -> list[CryptoFigures]:
    """Needs the key provider (run inside the embedded AWS)."""
    from chalicelib import services
    from chalicelib.tokens import jws

    keys = services.key_provider()
    figures = []
    for alg in ("RS256", "ES256"):
        key = keys.signing_key(alg)
        token = jws.sign(key, CLAIMS, typ=TYP)
        message = token.rsplit(".", 1)[0].encode()
        figures.append(
            CryptoFigures(
                alg=alg,
                sign_us=median_us(lambda key=key, message=message: key.sign(message), samples, clock),
                jws_sign_us=median_us(lambda key=key: jws.sign(key, CLAIMS, typ=TYP), samples, clock),
                verify_us=median_us(_raw_verifier(alg, key, message), samples, clock),
                jws_verify_us=median_us(
                    lambda token=token: jws.verify(keys, token, typ=TYP, issuer=ISSUER),
                    samples,
                    clock,
                ),
            )
        )
    return figures
