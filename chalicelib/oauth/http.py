"""Framework-free HTTP request and response for the protocol core.

The web layer turns a Chalice request into :class:`Request` and a
:class:`Response` back into a Chalice response; nothing below this module
knows which framework or cloud it runs on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def no_store() -> dict[str, str]:
    """RFC 6749 §5.1: responses carrying tokens or credentials must not be cached."""
    return {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Response:
    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    # Set-Cookie values: a header that may repeat, so kept apart from `headers`.
    cookies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """An HTML page the web layer renders from ``template`` (the core knows no HTML)."""

    template: str
    context: Mapping[str, object] = field(default_factory=dict)
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: tuple[str, ...] = ()  # Set-Cookie values, as on Response (e.g. the CSRF cookie)


def redirect(location: str, *, status: int = 302, cookies: tuple[str, ...] = ()) -> Response:
    return Response(status, "", {"Location": location, **no_store()}, cookies)


def parse_form(raw: str) -> dict[str, list[str]]:
    """Decode an ``application/x-www-form-urlencoded`` body (or query string)."""
    return parse_qs(raw, keep_blank_values=True)


def json_response(body: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body), {"Content-Type": "application/json", **(headers or {})})


def set_cookie(
    name: str, value: str, *, max_age: int, path: str = "/", secure: bool = True, same_site: str = "Lax"
) -> str:
    """A Set-Cookie value; always HttpOnly: no cookie of ours is for scripts."""
    parts = [f"{name}={value}", f"Max-Age={max_age}", f"Path={path}", "HttpOnly", f"SameSite={same_site}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def read_cookies(header: str | None) -> dict[str, str]:
    """The Cookie request header as a dict (the first value wins for a repeated name)."""
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value
    return found
