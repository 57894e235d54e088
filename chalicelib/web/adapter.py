"""Chalice request <-> protocol request/response, and the headers every answer carries.

This is the only module besides the route blueprints that knows Chalice.
Any exception that escapes the protocol core becomes an RFC 6749
``server_error``; its detail is logged, never sent, and never includes
request parameters (they may hold secrets).  The one exception: DynamoDB
refusing an oversized key is the caller's ``invalid_request``
(the storage adapter says so: :func:`chalicelib.services.refused_input`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalice import Response as ChaliceResponse
from chalice.app import Request as ChaliceRequest

from chalicelib import services
from chalicelib.oauth.errors import OAuthError, RequestTooLarge, ServerError
from chalicelib.oauth.events import Outcome, Recorder
from chalicelib.oauth.http import MAX_BODY_BYTES, Page, Response
from chalicelib.oauth.request import Params, Request

log = logging.getLogger("tollgate")

# Every route accepts any Content-Type: bodies are parsed by the protocol core, which answers a wrong
# one with RFC 6749's invalid_request; Chalice's own 415 would not be an OAuth error.
ANY_CONTENT_TYPE = ["*/*"]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


def request_headers(request: ChaliceRequest) -> dict[str, str]:
    """The request's headers, names lower-cased as Chalice's own mapping has them.

    Read from the event Chalice was given: iterating Chalice's read-only
    mapping costs a lower-casing lookup per header, on every request.
    """
    return {name.lower(): value for name, value in (request.to_original_event().get("headers") or {}).items()}


def protocol_request(request: ChaliceRequest, recorder: Recorder, headers: dict[str, str] | None = None) -> Request:
    """``headers``: :func:`request_headers` when the caller already has them."""
    query = request.query_params
    values = {name: query.getlist(name) for name in query} if query else {}
    raw = request.raw_body or b""
    return Request(
        method=request.method,
        path=request.context.get("resourcePath", ""),
        headers=request_headers(request) if headers is None else headers,
        query=Params(values),
        body=raw.decode("utf-8", errors="replace"),
        source_ip=request.context.get("identity", {}).get("sourceIp", ""),
        events=recorder,
    )


def chalice_response(response: Response) -> ChaliceResponse:
    headers: dict[str, Any] = dict(response.headers)
    if response.cookies:
        # A list value becomes API Gateway's multiValueHeaders: one Set-Cookie line each.
        headers["Set-Cookie"] = list(response.cookies)
    return ChaliceResponse(body=response.body, status_code=response.status, headers=headers)


def respond(
    request: ChaliceRequest, handler: Callable[[Request], Response | Page], *, page: bool = False
) -> ChaliceResponse:
    """Run one protocol handler; nothing it raises reaches the framework.

    ``page``: the endpoint answers a person's browser, so a refusal made here
    is an HTML error page rather than RFC 6749 JSON.  The request's
    :class:`~chalicelib.oauth.events.Outcome` is left on ``request.outcome``
    for the log line and metrics (:mod:`chalicelib.web.observability`).
    """
    recorder = Recorder()
    try:
        headers = request_headers(request)
        _check_body_size(request, headers)
        result = handler(protocol_request(request, recorder, headers))
        response = _render(result) if isinstance(result, Page) else result
    except OAuthError as error:  # too large (413), or raised below the endpoint, e.g. keys that cannot be read (503)
        response = _render(error.to_page()) if page else error.to_response()
    except Exception as unexpected:
        error = services.refused_input(unexpected) or _server_error(request)
        response = _render(error.to_page()) if page else error.to_response()
    request.outcome = recorder.outcome(response.error)
    return chalice_response(response)


def outcome_of(request: ChaliceRequest) -> Outcome | None:
    """What :func:`respond` left for this request; None if no handler of ours answered (Chalice's own 404/405)."""
    return getattr(request, "outcome", None)


def _server_error(request: ChaliceRequest) -> OAuthError:
    log.exception("unhandled error in %s", request.context.get("resourcePath", "?"))
    return ServerError("The server could not complete the request. Try again later.")


def _check_body_size(request: ChaliceRequest, headers: dict[str, str]) -> None:
    """Refuse a body over ``MAX_BODY_BYTES``, by its declared length first, then by what arrived."""
    declared = headers.get("content-length") or ""
    if _declares_more_than_allowed(declared) or len(request.raw_body or b"") > MAX_BODY_BYTES:
        raise RequestTooLarge(f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB")


def _declares_more_than_allowed(content_length: str) -> bool:
    """Whether ``Content-Length`` declares over ``MAX_BODY_BYTES``; only ASCII digits declare anything.

    ``str.isdigit`` alone passes "²" (which ``int`` refuses) and 5,000 digits
    (past ``int``'s 4,300-digit limit): both were 500s.
    """
    digits = content_length.strip()
    if not (digits.isascii() and digits.isdigit()):
        return False
    significant = digits.lstrip("0")
    return len(significant) > len(str(MAX_BODY_BYTES)) or int(significant or "0") > MAX_BODY_BYTES


def _render(page: Page) -> Response:
    from chalicelib.web.ui.render import render  # Jinja2 loads only for pages

    return render(page)


def add_security_headers(response: ChaliceResponse) -> ChaliceResponse:
    """The headers every response carries, Chalice's own answers (404, 405) included: see ``web/middleware.py``."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
