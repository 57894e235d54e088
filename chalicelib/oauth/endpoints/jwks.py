"""The JWK set document, RFC 7517 §5: public parts of next, current and previous keys."""

from __future__ import annotations

from chalicelib.oauth import cors
from chalicelib.oauth.http import Response, json_response
from chalicelib.oauth.ports import KeyProvider

# Shorter than a rotation period, so caches always hold the `next` key in time.
JWKS_MAX_AGE = 300


class JwksEndpoint:
    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys

    def handle(self) -> Response:
        return cors.public(
            json_response(self._keys.jwks(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})
        )
