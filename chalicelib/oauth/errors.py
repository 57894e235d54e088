"""OAuth 2.0 errors: one class per registered error code.

RFC 6749 §5.2 (token endpoint), §4.1.2.1 (authorization endpoint), RFC 6750
§3.1 (bearer tokens), RFC 7591 §3.2.2 (client registration), RFC 8628 §3.5
(device flow) and RFC 8707 §2 (resource indicators).  ``description`` is sent
to the client; ``detail`` is for logs only and never leaves the server.
"""

from __future__ import annotations

from typing import ClassVar

from chalicelib.oauth.http import Response, json_response, no_store


class OAuthError(Exception):
    error: ClassVar[str] = "server_error"
    status: ClassVar[int] = 400

    def __init__(self, description: str = "", *, detail: str = "", retry_after: int | None = None) -> None:
        super().__init__(description or self.error)
        self.description = description
        self.detail = detail
        self.retry_after = retry_after  # seconds; sent as ``Retry-After`` (RFC 9110 §10.2.3)

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def to_response(self) -> Response:
        """Render as RFC 6749 §5.2 JSON."""
        return json_response(self.body(), status=self.status, headers={**no_store(), **self.headers()})


class InvalidRequest(OAuthError):
    """The request is missing a parameter, repeats one, or is otherwise malformed."""

    error = "invalid_request"


class RequestTooLarge(InvalidRequest):
    """A body larger than any OAuth request needs: HTTP 413 (RFC 9110 §15.5.14), still RFC 6749's code."""

    status = 413


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2).

    When the client tried the Authorization header, the answer MUST be 401
    with a ``WWW-Authenticate`` challenge for the scheme it used.
    """

    error = "invalid_client"
    status = 401

    def __init__(self, description: str = "", *, detail: str = "", used_header: bool = False) -> None:
        super().__init__(description, detail=detail)
        self.used_header = used_header

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="tollgate"'} if self.used_header else {}


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1: the server does not revoke this token type."""

    error = "unsupported_token_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested audience/resource is not allowed for this client."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class InvalidToken(OAuthError):
    """RFC 6750 §3.1."""

    error = "invalid_token"
    status = 401


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1."""

    error = "insufficient_scope"
    status = 403


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_client_metadata"


class NotFound(OAuthError):
    """An admin operation named something that does not exist."""

    error = "not_found"
    status = 404


class ServerError(OAuthError):
    error = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    """RFC 6749 §4.1.2.1: overloaded or in maintenance; answered 503 with ``Retry-After`` at every endpoint."""

    error = "temporarily_unavailable"
    status = 503
