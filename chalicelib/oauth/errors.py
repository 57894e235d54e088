"""OAuth 2.0 errors: every error the server answers, one class per registered error code.

RFC 6749 §5.2 (token endpoint), §4.1.2.1 (authorization endpoint), RFC 6750
§3.1 (bearer tokens), RFC 7009 §2.2.1 (revocation), RFC 7591 §3.2.2 (client
registration), RFC 8628 §3.5 (device flow), RFC 8707 §2 (resource
indicators) and OpenID Connect Core §3.1.2.6.  ``description`` is sent to the
client; ``detail`` is for logs only and never leaves the server.

Each error renders three ways, and only here: RFC 6749 §5.2 JSON
(:meth:`OAuthError.to_response`), a redirect to the client (§4.1.2.1,
:func:`error_redirect`) and the error page a person sees
(:meth:`OAuthError.to_page`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import urlencode, urlsplit

from chalicelib.oauth.http import Page, Response, json_response, no_store, redirect

ERROR_PAGE = "error"  # the template every error page renders


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

    def to_response(self, headers: Mapping[str, str] | None = None) -> Response:
        """Render as RFC 6749 §5.2 JSON; ``headers`` adds an endpoint's own (e.g. RFC 6750's challenge)."""
        headers = {**no_store(), **self.headers(), **(headers or {})}
        return json_response(self.body(), status=self.status, headers=headers, error=self.error)

    def to_page(self, status: int | None = None) -> Page:
        """Render as the error page a person's browser shows (never redirected: RFC 6749 §4.1.2.1)."""
        context = {"error": self.error, "error_description": self.description}
        return Page(ERROR_PAGE, context, self.status if status is None else status, error=self.error)

    def to_redirect(self, redirect_uri: str, *, issuer: str, state: str | None) -> Response:
        """Render as an authorization error response to the client's ``redirect_uri`` (RFC 6749 §4.1.2.1)."""
        return error_redirect(redirect_uri, self.body(), issuer=issuer, state=state)

    def bearer_challenge(self, realm: str) -> str:
        """RFC 6750 §3: the ``WWW-Authenticate`` value naming this error."""
        return f'Bearer realm="{realm}", error="{self.error}", error_description="{self.description}"'


def with_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` added to its query (RFC 6749 §3.1.2: keep the registered URI's own query)."""
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{urlencode(params)}"


def error_redirect(redirect_uri: str, body: Mapping[str, str], *, issuer: str, state: str | None) -> Response:
    """The one redirect renderer: ``body`` (``error``, maybe ``error_description``), RFC 9207's ``iss``, ``state``."""
    params = {**body, "iss": issuer}
    if state is not None:
        params["state"] = state
    return redirect(with_query(redirect_uri, params), error=body["error"])


class InvalidRequest(OAuthError):
    """The request is missing a parameter, repeats one, or is otherwise malformed."""

    error = "invalid_request"


class RequestTooLarge(InvalidRequest):
    """A body larger than any OAuth request needs: HTTP 413 (RFC 9110 §15.5.14), still RFC 6749's code."""

    status = 413


class TooManyAttempts(InvalidRequest):
    """Too many codes entered for one device challenge or from one address (RFC 8628 §5.1),
    or too many passwords tried on one login challenge: it is void."""

    status = 429


class MissingToken(InvalidRequest):
    """RFC 6750 §3.1: a request without authentication gets a challenge but no error code."""

    status = 401

    def body(self) -> dict[str, str]:
        return {}

    def bearer_challenge(self, realm: str) -> str:
        return f'Bearer realm="{realm}"'


class CsrfFailure(InvalidRequest):
    """The form's CSRF token is missing or does not match the browser's cookie."""

    status = 403

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
            detail=detail,
        )


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


class DeviceAccessDenied(AccessDenied):
    """RFC 8628 §3.5: the same code as RFC 6749's, answered with 400 at the token endpoint."""

    status = 400


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5: the person has not answered yet.

    The device keeps polling at its interval; nothing is wrong.
    """

    error = "authorization_pending"


class SlowDown(OAuthError):
    """RFC 8628 §3.5: polled faster than the interval.

    The device adds 5 s to its interval for this and every later poll.
    """

    error = "slow_down"


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5: the device code expired (or was settled already); the device starts again."""

    error = "expired_token"


class LoginRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` and no usable login session."""

    error = "login_required"


class ConsentRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` and no remembered consent covers the request.

    The client must send the person through the consent page.
    """

    error = "consent_required"


class RequestNotSupported(OAuthError):
    """OIDC Core §3.1.2.6: request objects are not supported."""

    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    """OIDC Core §3.1.2.6: ``request_uri`` (and RFC 9126 pushed requests) are not supported."""

    error = "request_uri_not_supported"


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
