"""RFC 6749 §3.3 scope syntax: scope-tokens of NQCHAR separated by single spaces, checked in one match."""

from __future__ import annotations

import random

import pytest

from chalicelib.oauth.errors import InvalidScope
from chalicelib.oauth.scopes import SCOPE_TOKEN, parse_scope


def _token_by_token(scope: str) -> tuple[str, ...] | None:
    """The rule read literally: split on spaces, every part one scope-token; repeats granted once."""
    tokens = scope.split(" ")
    if any(not SCOPE_TOKEN.fullmatch(token) for token in tokens):
        return None
    return tuple(dict.fromkeys(tokens))


def _parsed(scope: str) -> tuple[str, ...] | None:
    try:
        return parse_scope(scope)
    except InvalidScope:
        return None


@pytest.mark.parametrize(
    "scope", ["openid", "openid profile", "a a b", "", " ", "a  b", " a", "a ", 'a"b', "a\\b", "a\tb", "é", "a\nb"]
)
def test_a_scope_is_read_as_the_rule_says(scope):
    assert _parsed(scope) == _token_by_token(scope)


def test_random_scopes_are_read_as_the_rule_says():
    rng = random.Random(3)
    alphabet = 'ab: "\\\t\x7f~!é'
    for _ in range(5000):
        scope = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 10)))
        assert _parsed(scope) == _token_by_token(scope), repr(scope)
