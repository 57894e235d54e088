"""Scope (RFC 6749 §3.3) and audience (RFC 8707 §2) checks shared by every grant."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chalicelib.oauth.errors import InvalidScope, InvalidTarget

# RFC 6749 §3.3: scope-token = 1*NQCHAR; NQCHAR = %x21 / %x23-5B / %x5D-7E (also checked at registration)
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# scope = scope-token *( SP scope-token ): the whole value in one match, not one match per token.
SCOPE = re.compile(rf"{SCOPE_TOKEN.pattern}(?: {SCOPE_TOKEN.pattern})*")


def parse_scope(scope: str) -> tuple[str, ...]:
    if not SCOPE.fullmatch(scope):
        raise InvalidScope("scope must be scope-tokens separated by single spaces")
    return tuple(dict.fromkeys(scope.split(" ")))


def resolve_scope(requested: str | None, allowed: frozenset[str], default: Iterable[str]) -> tuple[str, ...]:
    """The scope to grant: what was asked for if the client may have all of it."""
    if requested is None:
        return tuple(default)
    scopes = parse_scope(requested)
    refused = [scope for scope in scopes if scope not in allowed]
    if refused:
        # The refused values are the caller's text: not repeated back (they would land in pages and redirects).
        raise InvalidScope("the requested scope is not allowed for this client")
    return scopes


def resolve_audience(requested: list[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The audience to ask for: what was requested, each registered for the client, else all it registered.

    Decided once, at request time (RFC 8707 §2 lets a server use "a predefined
    default resource value" when none is requested), so the person's consent
    names it and the token carries no audience that was not shown.  Empty when
    the client registered none: the token is then for the client itself.
    """
    if not requested:
        return allowed
    refused = [audience for audience in requested if audience not in allowed]
    if refused:
        raise InvalidTarget("the requested audience is not allowed for this client")
    return tuple(dict.fromkeys(requested))
