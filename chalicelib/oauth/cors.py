"""CORS: which browser origin may read an answer (WHATWG Fetch, "CORS protocol").

A browser app calls the token, revocation, device authorization and userinfo
endpoints with ``fetch()`` from its own origin; the browser hides the answer
unless it names that origin in ``Access-Control-Allow-Origin``.  The rules:

- Discovery and the JWK set are public documents: ``*``.
- A client-specific answer is readable only by the origins of the client the
  request names (the origins of its ``redirect_uris`` plus its
  ``allowed_cors_origins``), compared exactly as the browser serializes them,
  and only once that client is known: the authenticated client at the token,
  revocation and device endpoints, the access token's ``client_id`` at
  userinfo.  Its errors (``invalid_grant``) are readable by it too; an answer
  that names no client (failed authentication, invalid token) by nobody.
- A preflight carries no body, so it names no client; it answers every
  well-formed origin with the endpoint's methods and headers, at no cost (an
  attacker picks the Origin, so it must not trigger a read).  That lets a
  browser send nothing it could not send from any server: these endpoints use
  no cookies, every credential is in the request itself, and the answer stays
  unreadable unless the origin is the client's.
- Never ``Access-Control-Allow-Credentials``: no endpoint here reads cookies,
  so a browser must not attach any.

The authorization endpoint and the pages are navigations, never ``fetch()``
targets, so they answer no CORS at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from chalicelib.oauth.clients import Client
from chalicelib.oauth.http import Response
from chalicelib.oauth.request import Request

ALLOW_ORIGIN = "Access-Control-Allow-Origin"
ANY_ORIGIN = "*"
# Request headers a browser app sends beyond the CORS-safelisted ones (Bearer tokens, client_secret_basic,
# and a JSON or form Content-Type).
ALLOWED_REQUEST_HEADERS = ("Authorization", "Content-Type")
# RFC 6750 §3: the Bearer challenge tells the app why its token failed.
EXPOSED_RESPONSE_HEADERS = ("WWW-Authenticate",)
# Chromium caps a cached preflight at two hours; the answer only changes with a deploy.
PREFLIGHT_MAX_AGE = 7200
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A serialized origin's host: a DNS name or IPv4 address, or a bracketed IPv6 address.  Anything else
# (userinfo, "\", percent signs) is where browsers and Python disagree about the host, so it has no origin here.
_HOST_PORT = re.compile(r"(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")


def origin_of(url: str) -> str | None:
    """The origin a browser serializes for ``url`` (lower-case, default port dropped), or None if it has none.

    Only http(s) URLs with a plain host have a tuple origin; a private-use
    scheme (a native app's redirect URI) or anything ambiguous has none.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    found = _HOST_PORT.fullmatch(parts.netloc.lower())
    if scheme not in _DEFAULT_PORTS or found is None:
        return None
    port = int(found["port"]) if found["port"] else _DEFAULT_PORTS[scheme]
    if port > 65535:
        return None
    suffix = "" if port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{found['host']}{suffix}"


def client_origins(client: Client) -> frozenset[str]:
    """Every origin allowed to read the answers a client gets: its redirect URIs' and ``allowed_cors_origins``."""
    found = {origin_of(uri) for uri in client.redirect_uris}
    return frozenset(origin for origin in (*found, *client.allowed_cors_origins) if origin)


def request_origin(request: Request) -> str | None:
    """The request's ``Origin`` if it is a well-formed tuple origin; ``null`` and anything malformed give None."""
    origin = request.headers.get("origin")
    return origin if origin is not None and origin_of(origin) == origin else None


def public(response: Response) -> Response:
    """A public document: any origin may read it; the same for everyone, so no ``Vary``."""
    return _with_headers(response, {ALLOW_ORIGIN: ANY_ORIGIN})


def for_client(request: Request, response: Response, client: Client | None) -> Response:
    """``response`` readable by the request's origin only if it is one of ``client``'s origins."""
    headers = {"Vary": "Origin"}  # the answer's headers depend on Origin: shared caches must key on it
    origin = request_origin(request)
    if client is not None and origin is not None and origin in client_origins(client):
        headers |= {ALLOW_ORIGIN: origin, "Access-Control-Expose-Headers": ", ".join(EXPOSED_RESPONSE_HEADERS)}
    return _with_headers(response, headers)


def preflight(methods: Iterable[str], *, any_origin: bool = False) -> Callable[[Request], Response]:
    """The handler answering an ``OPTIONS`` preflight for an endpoint that takes ``methods``.

    No client is known yet, so every well-formed origin may send the actual
    request (see the module docstring); only its answer decides who reads it.
    """
    allowed = {
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": ", ".join(ALLOWED_REQUEST_HEADERS),
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
    }

    def answer(request: Request) -> Response:
        if any_origin:
            return public(Response(204, "", allowed))
        origin = request_origin(request)
        headers = {**allowed, "Vary": "Origin"}
        if origin is not None:
            headers[ALLOW_ORIGIN] = origin
        return Response(204, "", headers)

    return answer


def _with_headers(response: Response, headers: dict[str, str]) -> Response:
    # Not dataclasses.replace: it reads the field list on every call, and this runs on every answer.
    return Response(
        response.status, response.body, {**response.headers, **headers}, response.cookies, error=response.error
    )
