"""Token revocation, RFC 7009.

§2.2: an invalid or unknown token answers 200, since the client cannot do
anything about it.  A client may only revoke its own tokens (§2.1); like
fosite, another client's token is refused with ``unauthorized_client``.
"""

from __future__ import annotations

from chalicelib.oauth.client_auth import ClientAuthenticator
from chalicelib.oauth.errors import OAuthError, UnauthorizedClient
from chalicelib.oauth.http import Response, no_store
from chalicelib.oauth.request import Request
from chalicelib.tokens.access import AccessTokens


class RevocationEndpoint:
    def __init__(self, authenticator: ClientAuthenticator, access_tokens: AccessTokens) -> None:
        self._authenticator = authenticator
        self._access_tokens = access_tokens

    def handle(self, request: Request) -> Response:
        try:
            params = request.form()
            client = self._authenticator.authenticate(request, params)
            token = params.require("token")
            # §2.1: a token_type_hint only speeds up the search; any value is accepted.
            params.get("token_type_hint")
            claims = self._access_tokens.active_claims(token)
            if claims is not None:
                if claims.get("client_id") != client.client_id:
                    raise UnauthorizedClient("the token was not issued to this client")
                self._access_tokens.revoke(token, claims)
        except OAuthError as error:
            return error.to_response()
        return Response(200, "", no_store())
