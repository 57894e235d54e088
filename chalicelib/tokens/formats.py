"""Access token formats (DESIGN §6): an RFC 9068 JWT or an opaque handle, one class each.

A client's ``access_token_strategy`` picks its format once, at issue time;
a presented token is read by the one format that recognises it.  Both
formats carry the same claims (``iss sub aud exp iat jti client_id scope``):
a JWT inside itself (RFC 9068 §2.2), an opaque value in a record the
protocol core stores under the value's hash (:attr:`Minted.record_id`).  What is stored and
what revokes a token is the core's business (:mod:`chalicelib.oauth.access_tokens`):
these classes only write and read values, like fosite's ``token/jwt`` and
``token/hmac`` strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from chalicelib.tokens import jws, opaque
from chalicelib.tokens.hashing import digest

JWT_TYP = "at+jwt"  # RFC 9068 §2.1


@dataclass(frozen=True)
class Minted:
    value: str
    # Where the token's claims must be stored before it is handed out; None: the value carries them.
    record_id: str | None = None


class AccessTokenFormat(Protocol):
    strategy: ClassVar[str]  # the client metadata ``access_token_strategy`` that selects it

    def recognises(self, value: str) -> bool:
        """Whether ``value`` has this format's shape (nothing is verified yet)."""

    def mint(self, claims: dict[str, Any], grant_id: str | None) -> Minted:
        """A new value for ``claims``."""

    def record_id(self, value: str) -> str | None:
        """Where the claims of ``value`` are stored (its hash); None: the value carries them itself."""

    def verified_claims(self, value: str) -> dict[str, Any] | None:
        """The claims ``value`` carries, once verified; None if it is invalid or carries none."""


class JwtAccessTokens:
    """RFC 9068: self-contained, signed with the ``current`` key, verified against the published ones."""

    strategy: ClassVar[str] = "jwt"

    def __init__(self, keys: jws.JwsKeys, *, issuer: str, alg: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._alg = alg

    def recognises(self, value: str) -> bool:
        return value.count(".") == 2  # JWS compact serialization, RFC 7515 §7.1

    def mint(self, claims: dict[str, Any], grant_id: str | None) -> Minted:
        return Minted(jws.sign(self._keys.signing_key(self._alg), claims, typ=JWT_TYP))

    def record_id(self, value: str) -> str | None:
        return None

    def verified_claims(self, value: str) -> dict[str, Any] | None:
        try:
            return jws.verify(self._keys, value, typ=JWT_TYP, issuer=self._issuer)
        except jws.InvalidJws:
            return None


class OpaqueAccessTokens:
    """A ``tg_at_`` handle of 256 random bits that names its grant; the claims live in its record."""

    strategy: ClassVar[str] = "opaque"

    def recognises(self, value: str) -> bool:
        return value.startswith(opaque.ACCESS_TOKEN)

    def mint(self, claims: dict[str, Any], grant_id: str | None) -> Minted:
        value = opaque.new(opaque.ACCESS_TOKEN, grant_id)
        return Minted(value, record_id=digest(value))

    def record_id(self, value: str) -> str | None:
        return digest(value)

    def verified_claims(self, value: str) -> dict[str, Any] | None:
        return None


def format_of(formats: tuple[AccessTokenFormat, ...], value: str) -> AccessTokenFormat | None:
    """The format a presented value has, or None: not an access token of ours."""
    return next((candidate for candidate in formats if candidate.recognises(value)), None)
