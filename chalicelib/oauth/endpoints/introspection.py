"""Token introspection, RFC 7662.

The caller authenticates as a confidential client (§2.1: the endpoint MUST
require authorization, and anonymous probing would let anyone test stolen
tokens).  Anything that is not a live token of ours — expired, revoked,
malformed, signed by someone else, ``alg: none`` — answers exactly
``{"active": false}`` (§2.2), with no hint of why.
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth.client_auth import ClientAuthenticator
from chalicelib.oauth.errors import InvalidClient, OAuthError
from chalicelib.oauth.grants.issuance import live_refresh_token
from chalicelib.oauth.http import Response, json_response, no_store
from chalicelib.oauth.ports import StateStore
from chalicelib.oauth.request import Request
from chalicelib.tokens.access import AccessTokens

INTROSPECTION_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")


class IntrospectionEndpoint:
    def __init__(
        self, authenticator: ClientAuthenticator, access_tokens: AccessTokens, store: StateStore, *, issuer: str
    ) -> None:
        self._authenticator = authenticator
        self._access_tokens = access_tokens
        self._store = store
        self._issuer = issuer

    def handle(self, request: Request) -> Response:
        try:
            params = request.form()
            caller = self._authenticator.authenticate(request, params)
            if caller.is_public:
                raise InvalidClient("introspection requires a confidential client")
            token = params.require("token")
        except OAuthError as error:
            return error.to_response()
        return json_response(self._answer(token), headers=no_store())

    def _answer(self, token: str) -> dict[str, Any]:
        refresh = live_refresh_token(self._store, token)
        if refresh is not None:
            grant = refresh.payload
            return {
                "active": True,
                "scope": " ".join(grant["scope"]),
                "client_id": grant["client_id"],
                "sub": grant["subject"],
                "iss": self._issuer,
                "exp": refresh.expires_at,
            }
        claims = self._access_tokens.active_claims(token)
        if claims is None:
            return {"active": False}
        answer = {name: claims[name] for name in INTROSPECTION_CLAIMS if name in claims}
        return {"active": True, **answer, "token_type": "Bearer"}
