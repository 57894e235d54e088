"""An access token's claims (RFC 9068 §2.2), read: a verified JWT's, or an opaque token's record.

An opaque access token's record (stored under the token's hash) holds the
claim set as issued, the same a JWT carries (plus the claims a consent
added, which only the token's own reader sees); the endpoints that answer
about a token (introspection, userinfo, revocation) read this model of it,
never the claims by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class AccessTokenClaims:
    KIND: ClassVar[str] = "access_token"  # an opaque token's record

    iss: str
    sub: str
    aud: str | list[str]
    exp: int
    iat: int
    jti: str
    client_id: str
    scope: str
    grant_id: str | None = None  # a person's token: the grant it was issued under
    nbf: int | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(self.aud) if isinstance(self.aud, list) else (self.aud,)
