"""ID tokens, OpenID Connect Core 1.0 §2 and §3.1.3.6.

The token carries only what identifies the authentication (``sub``,
``auth_time``, ``amr``, ``acr``, ``sid``, ``nonce``, ``at_hash``) plus the
claims the consent app put into ``session.id_token``.  Profile and email
claims come from the UserInfo endpoint (Core §5.4: with an access token
issued, scope claims are returned there), which keeps the code exchange
free of a user lookup.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.oauth.clients import Client
from chalicelib.oauth.oidc.claims import public_claims
from chalicelib.tokens import jws
from chalicelib.tokens.jws import JwsKeys


def at_hash(access_token: str) -> str:
    """§3.1.3.6: left half of the SHA-256 of the access token, base64url (RS256 and ES256 both hash with SHA-256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@dataclass(frozen=True)
class IdTokenRequest:
    client: Client
    subject: str
    auth_time: int
    sid: str
    nonce: str | None = None
    acr: str = ""
    amr: tuple[str, ...] = ()
    access_token: str | None = None
    extra_claims: Mapping[str, Any] = field(default_factory=dict)


class IdTokens:
    def __init__(self, keys: JwsKeys, *, issuer: str, ttl: int) -> None:
        self._keys = keys
        self._issuer = issuer
        self._ttl = ttl

    def issue(self, request: IdTokenRequest) -> str:
        now = int(clock.now())
        claims: dict[str, Any] = public_claims(request.extra_claims)
        claims.update(
            iss=self._issuer,
            sub=request.subject,
            aud=request.client.client_id,
            exp=now + self._ttl,
            iat=now,
            auth_time=request.auth_time,
            jti=secrets.token_urlsafe(16),
        )
        optional = {"sid": request.sid, "nonce": request.nonce, "acr": request.acr, "amr": list(request.amr)}
        claims.update({name: value for name, value in optional.items() if value})
        if request.access_token:
            claims["at_hash"] = at_hash(request.access_token)
        key = self._keys.signing_key(request.client.id_token_signed_response_alg)
        return jws.sign(key, claims, typ="JWT")
