"""What every grant plugs into: its dependencies and the token endpoint's call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from chalicelib.oauth.access_tokens import AccessTokens
from chalicelib.oauth.clients import Client
from chalicelib.oauth.grants.issuance import GrantIssuer
from chalicelib.oauth.ports import StateStore
from chalicelib.oauth.request import Params


@dataclass(frozen=True)
class GrantDependencies:
    access_tokens: AccessTokens
    store: StateStore
    issuer: GrantIssuer
    grant_ttl: int


class Grant(Protocol):
    grant_type: ClassVar[str]
    subject_kind: ClassVar[str]  # chalicelib.oauth.events: CLIENT_SUBJECT or USER_SUBJECT

    def exchange(self, client: Client, params: Params) -> dict[str, Any]:
        """The RFC 6749 §5.1 response body, or raise an ``OAuthError``."""
