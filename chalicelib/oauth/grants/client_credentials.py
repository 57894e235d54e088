"""Client credentials grant, RFC 6749 §4.4.

Only confidential clients may use it (§4.4: "MUST only be used by
confidential clients"), the token's subject is the client itself, and no
refresh token is issued (§4.4.3).
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth.access_tokens import AccessTokenRequest
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import UnauthorizedClient
from chalicelib.oauth.events import CLIENT_SUBJECT
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.issuance import bearer_response
from chalicelib.oauth.request import Params
from chalicelib.oauth.scopes import resolve_audience, resolve_scope


class ClientCredentialsGrant:
    grant_type = "client_credentials"
    subject_kind = CLIENT_SUBJECT  # whom its tokens are about, for the request's outcome

    def __init__(self, deps: GrantDependencies) -> None:
        self._tokens = deps.access_tokens

    def exchange(self, client: Client, params: Params) -> dict[str, Any]:
        if client.is_public:
            raise UnauthorizedClient("public clients cannot use client_credentials")
        scope = resolve_scope(params.get("scope"), client.scopes, client.scope.split())
        audience = resolve_audience(params.get_all("audience") + params.get_all("resource"), client.audience)
        token = self._tokens.issue(AccessTokenRequest(client, client.client_id, scope, audience))
        return bearer_response(token, scope)
