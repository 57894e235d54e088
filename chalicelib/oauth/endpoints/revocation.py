"""Token revocation, RFC 7009.

§2.2: an invalid or unknown token answers 200, since the client cannot do
anything about it.  A client may only revoke its own tokens (§2.1); like
fosite, another client's token is refused with ``unauthorized_client``.
Revoking a refresh token revokes its whole grant, access tokens included
(§2.1: "SHOULD also invalidate all access tokens based on the same
authorization grant").
"""

from __future__ import annotations

from chalicelib.oauth import cors
from chalicelib.oauth.access_tokens import AccessTokens
from chalicelib.oauth.client_auth import ClientAuthenticator
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import OAuthError, UnauthorizedClient
from chalicelib.oauth.grants.issuance import live_refresh_token
from chalicelib.oauth.http import Response, no_store
from chalicelib.oauth.models.refresh_token import RefreshToken
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.request import Params, Request


class RevocationEndpoint:
    def __init__(self, authenticator: ClientAuthenticator, access_tokens: AccessTokens) -> None:
        self._authenticator = authenticator
        self._access_tokens = access_tokens

    def handle(self, request: Request) -> Response:
        client: Client | None = None
        try:
            params = request.form()
            client = self._authenticator.authenticate(request, params)
            token = params.require("token")
            _check_hint(params)
            self._revoke(client, token)
            response = Response(200, "", no_store())
        except OAuthError as error:
            response = error.to_response()
        return cors.for_client(request, response, client)

    def _revoke(self, client: Client, token: str) -> None:
        refresh = live_refresh_token(self._access_tokens, token)
        if refresh is not None:
            _check_owner(client, read(RefreshToken, refresh).client_id)
            if refresh.grant_id:
                self._access_tokens.revoke_grant(refresh.grant_id)
            return
        claims = self._access_tokens.revocable_claims(token)
        if claims is None:
            return
        if claims.client_id != client.client_id:
            # Refuse only while the token is live; a dead one answers 200 whoever asks (§2.2).
            if self._access_tokens.active_claims(token) is not None:
                _check_owner(client, claims.client_id)
            return
        self._access_tokens.revoke(token, claims)


def _check_hint(params: Params) -> None:
    """RFC 7009 §2.1 lets the server ignore ``token_type_hint``, and it does: a token's own format already says
    where to look (a refresh token carries its prefix; anything else is an access token), so no lookup is saved.
    It is still checked like every parameter (sent once, bounded: RFC 6749 §3.1), and any value is accepted."""
    params.get("token_type_hint")


def _check_owner(client: Client, owner: object) -> None:
    if owner != client.client_id:
        raise UnauthorizedClient("the token was not issued to this client")
