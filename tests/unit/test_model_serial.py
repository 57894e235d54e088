"""The one serialiser: what a model stores reads back as the same model, old and new payloads alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.oauth.models.serial import from_plain, to_plain


@dataclass(frozen=True)
class Inner:
    name: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outer:
    id: str
    inner: Inner
    maybe: Inner | None = None
    many: tuple[Inner, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)
    count: int = 0


def test_round_trip_keeps_types() -> None:
    value = Outer("x", Inner("a", ("1", "2")), many=(Inner("b"),), claims={"k": [1, {"n": None}]}, count=3)
    plain = to_plain(value)
    assert plain == {
        "id": "x",
        "inner": {"name": "a", "tags": ["1", "2"]},
        "maybe": None,
        "many": [{"name": "b", "tags": []}],
        "claims": {"k": [1, {"n": None}]},
        "count": 3,
    }
    assert from_plain(Outer, plain) == value


def test_unknown_keys_are_ignored_and_missing_ones_default() -> None:
    assert from_plain(Outer, {"id": "x", "inner": {"name": "a", "later": 1}, "gone": True}) == Outer("x", Inner("a"))
