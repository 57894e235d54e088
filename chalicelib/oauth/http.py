"""Framework-free HTTP request and response for the protocol core.

The web layer turns a Chalice request into :class:`Request` and a
:class:`Response` back into a Chalice response; nothing below this module
knows which framework or cloud it runs on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from chalicelib.tokens import json_text

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# No OAuth request comes near this; the web layer refuses larger bodies before decoding or parsing them.
MAX_BODY_BYTES = 64 * 1024


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
    error: str | None = None  # the RFC error code this answer carries, set by its renderer (chalicelib.oauth.events)


@dataclass(frozen=True)
class Page:
    """An HTML page the web layer renders from ``template`` (the core knows no HTML)."""

    template: str
    context: Mapping[str, object] = field(default_factory=dict)
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: tuple[str, ...] = ()  # Set-Cookie values, as on Response (e.g. the CSRF cookie)
    error: str | None = None  # as on Response: an error page's RFC code, or a form shown again with one


def redirect(location: str, *, status: int = 302, cookies: tuple[str, ...] = (), error: str | None = None) -> Response:
    return Response(status, "", {"Location": location, **no_store()}, cookies, error)


def parse_form(raw: str) -> dict[str, list[str]]:
    """Decode an ``application/x-www-form-urlencoded`` body: every value under each name, in order.

    The result is ``urllib.parse.parse_qs(raw, keep_blank_values=True)``'s
    (``&`` separates pairs, a pair without ``=`` has an empty value, ``+`` is a
    space, bad escapes stay as they are, invalid UTF-8 becomes U+FFFD), in a
    third of its time: the token endpoint parses a body on every request, and
    ``parse_qs`` spends most of its time on what a ``str`` body never needs
    (bytes input, strict mode, field limits) and on unquoting names and values
    that hold no escape.
    """
    found: dict[str, list[str]] = {}
    for pair in raw.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            found.setdefault(form_decoded(name), []).append(form_decoded(value))
    return found


def form_decoded(text: str) -> str:
    """One ``application/x-www-form-urlencoded`` name or value decoded (``unquote_plus``'s result): ``+`` is a
    space, then %-escapes as UTF-8; form bodies and Basic credentials (RFC 6749 §2.3.1) alike."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if text.isascii():  # what unquote does with an all-ASCII string, without its regex split into ASCII runs
        return unquote_to_bytes(text).decode("utf-8", "replace")
    return unquote(text)


def json_response(
    body: object, *, status: int = 200, headers: Mapping[str, str] | None = None, error: str | None = None
) -> Response:
    return Response(
        status, json_text.spaced(body), {"Content-Type": "application/json", **(headers or {})}, error=error
    )


def set_cookie(
    name: str, value: str, *, max_age: int | None, path: str = "/", secure: bool = True, same_site: str = "Lax"
) -> str:
    """A Set-Cookie value; always HttpOnly: no cookie of ours is for scripts.

    ``max_age=None`` makes a session cookie (RFC 6265 §4.1.2: without Max-Age or
    Expires the browser drops it when it closes).
    """
    lifetime = [] if max_age is None else [f"Max-Age={max_age}"]
    parts = [f"{name}={value}", *lifetime, f"Path={path}", "HttpOnly", f"SameSite={same_site}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


# RFC 6265bis §4.1.3.2: a browser accepts a "__Host-" cookie only if it is Secure, has Path=/ and no
# Domain, so a sibling subdomain (evil.example.com next to auth.example.com) cannot set or shadow it.
HOST_PREFIX = "__Host-"


@dataclass(frozen=True)
class CookiePolicy:
    """Names and paths of the cookies an endpoint sets under the issuer.

    With secure cookies and the issuer at the root of its host, every cookie
    is ``__Host-`` prefixed on ``Path=/``; otherwise (the local stage over
    http, or an issuer under a path such as ``/prod``, where ``Path=/`` would
    leak the cookie to other apps on the host) plain names on the issuer's
    path are the best a browser offers.
    """

    issuer_path: str  # "" or "/prod": the issuer URL's path, without a trailing slash
    secure: bool

    @classmethod
    def for_issuer(cls, issuer: str, *, secure: bool) -> CookiePolicy:
        return cls(urlsplit(issuer).path.rstrip("/"), secure)

    @property
    def host_only(self) -> bool:
        return self.secure and not self.issuer_path

    def name(self, name: str) -> str:
        return HOST_PREFIX + name if self.host_only else name

    def path(self, under: str = "") -> str:
        """The path for a cookie sent only to ``<issuer path>/<under>`` (always ``/`` for ``__Host-``)."""
        return "/" if self.host_only else f"{self.issuer_path}/{under}"

    def set(self, name: str, value: str, *, max_age: int | None, under: str = "") -> str:
        return set_cookie(self.name(name), value, max_age=max_age, path=self.path(under), secure=self.secure)


def cookie_values(header: str | None) -> dict[str, list[str]]:
    """The Cookie request header: every value sent under each name, in order."""
    found: dict[str, list[str]] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            found.setdefault(name, []).append(value)
    return found
