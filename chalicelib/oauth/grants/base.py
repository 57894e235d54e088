"""What every grant plugs into: its dependencies and the token endpoint's call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from chalicelib.oauth.clients import Client
from chalicelib.oauth.ports import StateStore
from chalicelib.oauth.request import Params
from chalicelib.tokens.access import AccessTokens, IssuedToken

if TYPE_CHECKING:
    from chalicelib.oauth.grants.issuance import GrantIssuer


@dataclass(frozen=True)
class GrantDependencies:
    access_tokens: AccessTokens
    store: StateStore
    issuer: GrantIssuer
    grant_ttl: int


class Grant(Protocol):
    grant_type: ClassVar[str]

    def exchange(self, client: Client, params: Params) -> dict[str, Any]:
        """The RFC 6749 §5.1 response body, or raise an ``OAuthError``."""


def bearer_response(access_token: IssuedToken, scope: tuple[str, ...]) -> dict[str, Any]:
    """RFC 6749 §5.1 / RFC 6750 §4."""
    return {
        "access_token": access_token.value,
        "token_type": "Bearer",
        "expires_in": access_token.expires_in,
        "scope": " ".join(scope),
    }
