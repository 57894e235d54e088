"""The UserInfo endpoint, OpenID Connect Core §5.3, protected per RFC 6750.

The access token comes in the Authorization header (RFC 6750 §2.1) or, on
POST, in a form body (§2.2) — never both (§2).  Errors are ``WWW-Authenticate:
Bearer`` challenges (§3): no token at all gets a bare challenge, a bad token
``invalid_token``, a token without ``openid`` ``insufficient_scope``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from chalicelib.oauth.http import FORM_CONTENT_TYPE, Response, json_response, no_store
from chalicelib.oauth.oidc.claims import SCOPE_CLAIMS
from chalicelib.oauth.ports import UserRepository
from chalicelib.oauth.request import Request
from chalicelib.tokens.access import AccessTokens

REALM = "tollgate"


class MissingToken(OAuthError):
    """RFC 6750 §3.1: a request without authentication gets a challenge but no error code."""

    error = "invalid_request"
    status = 401


def _challenge(error: OAuthError) -> str:
    if isinstance(error, MissingToken):
        return f'Bearer realm="{REALM}"'
    return f'Bearer realm="{REALM}", error="{error.error}", error_description="{error.description}"'


class UserInfoEndpoint:
    def __init__(self, access_tokens: AccessTokens, users: UserRepository) -> None:
        self._access_tokens = access_tokens
        self._users = users

    def handle(self, request: Request) -> Response:
        try:
            claims = self._token_claims(_bearer_token(request))
            return json_response(self._userinfo(claims), headers=no_store())
        except OAuthError as error:
            body = {} if isinstance(error, MissingToken) else error.body()
            return json_response(body, status=error.status, headers={"WWW-Authenticate": _challenge(error)})

    def _token_claims(self, token: str) -> dict[str, Any]:
        claims = self._access_tokens.active_claims(token)
        if claims is None:
            raise InvalidToken("the access token is invalid, expired or revoked")
        if "openid" not in str(claims.get("scope", "")).split():
            raise InsufficientScope("the access token was not granted the openid scope")
        return claims

    def _userinfo(self, claims: dict[str, Any]) -> dict[str, Any]:
        scopes = set(str(claims["scope"]).split())
        answer: dict[str, Any] = {}
        user = self._users.get(str(claims["sub"]))
        if user is not None and user.disabled:
            # The read happens anyway: a disabled person's live tokens (even opaque ones) stop here too.
            raise InvalidToken("the access token is invalid, expired or revoked")
        if user is not None:
            released = {name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ())}
            answer.update({k: v for k, v in user.claims(scopes).items() if k in released})
        answer["sub"] = claims["sub"]
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
