"""The UserInfo endpoint, OpenID Connect Core §5.3, protected per RFC 6750.

The access token comes in the Authorization header (RFC 6750 §2.1) or, on
POST, in a form body (§2.2) — never both (§2).  Errors are ``WWW-Authenticate:
Bearer`` challenges (§3): no token at all gets a bare challenge, a bad token
``invalid_token``, a token without ``openid`` ``insufficient_scope``, and one
whose ``aud`` names neither the issuer nor this endpoint (a token for an
API, say a client_credentials one) ``invalid_token``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth import cors
from chalicelib.oauth.access_tokens import AccessTokens
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InsufficientScope, InvalidRequest, InvalidToken, MissingToken, OAuthError
from chalicelib.oauth.http import FORM_CONTENT_TYPE, Response, json_response, no_store
from chalicelib.oauth.models.access_token import AccessTokenClaims
from chalicelib.oauth.oidc.claims import SCOPE_CLAIMS
from chalicelib.oauth.ports import ClientLookup, UserRepository
from chalicelib.oauth.request import Request

REALM = "tollgate"


class UserInfoEndpoint:
    def __init__(self, access_tokens: AccessTokens, users: UserRepository, clients: ClientLookup) -> None:
        self._access_tokens = access_tokens
        self._users = users
        self._clients = clients

    def handle(self, request: Request) -> Response:
        claims: dict[str, Any] | None = None
        try:
            claims = self._token_claims(_bearer_token(request))
            self._check_meant_for_userinfo(claims)
            response = json_response(self._userinfo(claims), headers=no_store())
        except OAuthError as error:
            response = error.to_response({"WWW-Authenticate": error.bearer_challenge(REALM)})
        return cors.for_client(request, response, self._browser_client(request, claims))

    def _token_claims(self, token: str) -> AccessTokenClaims:
        claims = self._access_tokens.active_claims(token)
        if claims is None:
            raise InvalidToken("the access token is invalid, expired or revoked")
        return claims

    def _check_meant_for_userinfo(self, claims: AccessTokenClaims) -> None:
        """Checked once the token is known to be live, so a browser app may read why it was refused."""
        if "openid" not in claims.scopes:
            raise InsufficientScope("the access token was not granted the openid scope")
        if not self._access_tokens.is_for_userinfo(claims):
            # RFC 6750 §3.1: a token meant for another resource (an API) is not valid here.
            raise InvalidToken("the access token is not meant for this server")

    def _browser_client(self, request: Request, claims: AccessTokenClaims | None) -> Client | None:
        """The token's client, whose origins may read the answer; read only for a browser's request.

        A server's call carries no Origin and costs nothing more; a browser's
        usually finds the client in the container's cache.
        """
        client_id = claims.client_id if claims else None
        if not client_id or cors.request_origin(request) is None:
            return None
        return self._clients.find(client_id)

    def _userinfo(self, claims: AccessTokenClaims) -> dict[str, Any]:
        scopes = set(claims.scopes)
        answer: dict[str, Any] = {}
        user = self._users.get(claims.sub)
        if user is not None and user.disabled:
            # The read happens anyway: a disabled person's live tokens (even opaque ones) stop here too.
            raise InvalidToken("the access token is invalid, expired or revoked")
        if user is not None:
            released = {name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ())}
            answer.update({k: v for k, v in user.claims(scopes).items() if k in released})
        answer["sub"] = claims.sub
        return answer


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    in_body = None
    if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
        in_body = request.form().get("access_token")
    if header is not None and in_body is not None:
        raise InvalidRequest("the access token was sent in more than one way")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("the Authorization header is not a Bearer token")
        return token.strip()
    if in_body is None:
        raise MissingToken()
    return in_body
