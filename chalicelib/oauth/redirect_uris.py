"""Matching a requested redirect_uri against the registered ones.

RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3: exact string comparison.  The one
exception is RFC 8252 §7.3: a native app's loopback redirect URI may use any
port, since the app picks a free one at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})


def _without_port(uri: str) -> str | None:
    """The URI with its port removed if it is an http loopback URI, else None."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        return None
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def matches(requested: str, registered: str) -> bool:
    if requested == registered:
        return True
    loose = _without_port(registered)
    return loose is not None and loose == _without_port(requested)


def resolve(requested: str | None, registered: Sequence[str]) -> str | None:
    """The redirect URI to use, or None when it must not be trusted."""
    if requested is None:
        # §3.1.2.3: may be omitted only when exactly one is registered.
        return registered[0] if len(registered) == 1 else None
    return requested if any(matches(requested, uri) for uri in registered) else None
