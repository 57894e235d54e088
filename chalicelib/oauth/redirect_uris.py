"""Matching a requested redirect_uri against the registered ones.

RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3: exact string comparison.  The one
exception is RFC 8252 §7.3: a native app's loopback redirect URI may use any
port, since the app picks a free one at run time.

A browser reads URLs by the WHATWG URL Standard, not by RFC 3986 as Python's
``urlsplit`` does: for http(s) a ``\\`` ends the host, tabs and newlines are
dropped, ``user@`` is skipped.  So ``http://evil.example\\@127.0.0.1/cb`` is
127.0.0.1 to Python and evil.example to the browser.  Nothing here lets the
two readings disagree: a URI holding any such character is refused outright
(:func:`problem`); the loopback exception compares the scheme-and-host and the
path-and-query as plain strings, never as parsed parts; and the URI the
browser is sent to is built from the *registered* one, with only its port
replaced (:func:`resolve`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from chalicelib.oauth.errors import InvalidRequest

# RFC 8252 §7.3 and §8.3: only the IP literals are loopback.  ``localhost``
# is a name a resolver (or a hosts file) may point anywhere; refused at
# registration.  Written as they appear in a URI's authority.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]"})

# A loopback URI as written: origin, optional port, then path and query (no fragment).
_HOSTS = "|".join(re.escape(host) for host in sorted(LOOPBACK_HOSTS))
_LOOPBACK = re.compile(rf"(http://(?:{_HOSTS}))(?::([0-9]+))?([/?].*)?", re.DOTALL)
_PORT = re.compile(r"[1-9][0-9]{0,4}")  # canonical digits: a browser would rewrite 08080 to 8080
MAX_PORT = 65535


def has_unsafe_characters(uri: str) -> bool:
    """Whitespace or control characters: a browser drops or rewrites some of them before parsing."""
    return any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri)


def problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirection endpoint whatever is registered, or None.

    Each refusal closes a place where a browser and ``urlsplit`` read a URI
    differently, or where RFC 6749 §3.1.2 forbids something outright.
    """
    if has_unsafe_characters(uri):
        return "contains whitespace or control characters"
    if "\\" in uri:
        return "contains a backslash (a browser reads it as '/')"
    if "#" in uri:
        return "must not contain a fragment (RFC 6749 §3.1.2)"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "is not a valid URI (check the host and port)"
    if "@" in parts.netloc:
        return "must not contain user information ('user@' before the host)"
    if port is not None and not 0 < port <= MAX_PORT:
        return "has a port out of range"
    return None


def is_loopback(uri: str) -> bool:
    """True for ``http://127.0.0.1[:port]/...`` and ``http://[::1][:port]/...``, written exactly so."""
    return _loopback_parts(uri) is not None


def _loopback_parts(uri: str) -> tuple[str, str | None, str] | None:
    """(origin, port, path and query) of a loopback URI with a valid port, else None."""
    match = _LOOPBACK.fullmatch(uri)
    if match is None:
        return None
    origin, port, rest = match.groups()
    if port is not None and not (_PORT.fullmatch(port) and int(port) <= MAX_PORT):
        return None
    return origin, port, rest or ""


def _loopback_redirect(requested: str, registered: str) -> str | None:
    """``registered`` with the requested port, if ``requested`` differs from it by the port alone."""
    asked, allowed = _loopback_parts(requested), _loopback_parts(registered)
    if asked is None or allowed is None:
        return None
    origin, port, rest = asked
    if (origin, rest) != (allowed[0], allowed[2]):
        return None
    return allowed[0] + (f":{port}" if port else "") + allowed[2]


def resolve(requested: str | None, registered: Sequence[str]) -> str | None:
    """The redirect URI to use (always built from a registered one), or None when none matches.

    A requested URI that no browser may be sent to raises ``InvalidRequest``
    with the reason (the authorization endpoint shows it on its error page).
    """
    if requested is None:
        # §3.1.2.3: may be omitted only when exactly one is registered.
        return registered[0] if len(registered) == 1 and problem(registered[0]) is None else None
    reason = problem(requested)
    if reason is not None:
        raise InvalidRequest(f"The redirect_uri {reason}.")
    for uri in registered:
        if requested == uri:
            return uri
    for uri in registered:
        loopback = _loopback_redirect(requested, uri)
        if loopback is not None:
            return loopback
    return None
