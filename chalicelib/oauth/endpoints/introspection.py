"""Token introspection, RFC 7662.

The caller authenticates as a confidential client (§2.1: the endpoint MUST
require authorization, and anonymous probing would let anyone test stolen
tokens).  It learns about a token only if it is entitled to (§2.2, §4): the
token's own client, or, for an access token, one of its audiences (an API
registers as a confidential client and is named as the token's audience).
A refresh token answers only its own client.  Anything else — another
client's token, expired, revoked, malformed, signed by someone else,
``alg: none`` — answers exactly ``{"active": false}`` after the same lookup,
with no hint of why.
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth.access_tokens import AccessTokens
from chalicelib.oauth.client_auth import ClientAuthenticator
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidClient, OAuthError
from chalicelib.oauth.grants.issuance import live_refresh_token
from chalicelib.oauth.http import Response, json_response, no_store
from chalicelib.oauth.models.access_token import AccessTokenClaims
from chalicelib.oauth.models.refresh_token import RefreshToken
from chalicelib.oauth.models.serial import to_plain
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.request import Request

INTROSPECTION_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
INACTIVE = {"active": False}


class IntrospectionEndpoint:
    def __init__(self, authenticator: ClientAuthenticator, access_tokens: AccessTokens, *, issuer: str) -> None:
        self._authenticator = authenticator
        self._access_tokens = access_tokens
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
        return json_response(self._answer(caller, token), headers=no_store())

    def _answer(self, caller: Client, token: str) -> dict[str, Any]:
        refresh = live_refresh_token(self._access_tokens, token)
        if refresh is not None:
            grant = read(RefreshToken, refresh)
            if grant.client_id != caller.client_id:
                return INACTIVE
            return {
                "active": True,
                "scope": " ".join(grant.scope),
                "client_id": grant.client_id,
                "sub": grant.subject,
                "iss": self._issuer,
                "exp": refresh.expires_at,
            }
        claims = self._access_tokens.active_claims(token)
        if claims is None or not _entitled(caller, claims):
            return INACTIVE
        plain = to_plain(claims)
        answer = {name: plain[name] for name in INTROSPECTION_CLAIMS if plain.get(name) is not None}
        return {"active": True, **answer, "token_type": "Bearer"}


def _entitled(caller: Client, claims: AccessTokenClaims) -> bool:
    """The access token's client, or one of its audiences (RFC 7662 §4: the resource server it is meant for)."""
    return caller.client_id == claims.client_id or caller.client_id in claims.audiences
