"""A refresh token (RFC 6749 §6): the person's grant, stored under the token's hash.

Its payload is the grant itself, as it always was.  Using one rotates it
(RFC 9700 §4.14.2): the token is consumed (the caller's conditional write)
and the grant passes, checked and narrowed, to the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

from chalicelib.oauth.errors import InvalidGrant
from chalicelib.oauth.models.grant import UserGrant


@dataclass(frozen=True)
class RefreshToken(UserGrant):
    KIND: ClassVar[str] = "refresh_token"

    @classmethod
    def of(cls, grant: UserGrant) -> RefreshToken:
        return cls(**{f.name: getattr(grant, f.name) for f in fields(grant)})

    def rotate(self, client_id: str, registered_scopes: frozenset[str]) -> RefreshToken:
        """The grant the next token carries, for ``client_id`` registered for ``registered_scopes``.

        A token presented by another client is burnt (the caller consumed it):
        its owner's next use reveals the theft.  A scope the client is no longer
        registered for leaves the grant for good: it narrows silently, as §6
        lets a refresh issue a narrower scope.
        """
        if self.client_id != client_id:
            raise InvalidGrant("the refresh token was issued to another client")
        return replace(self, scope=tuple(scope for scope in self.scope if scope in registered_scopes))
