"""The one serialiser between models and stored payloads.

A payload is plain JSON-shaped data: nested dataclasses become dicts,
tuples become lists, mappings are copied.  Reading a payload back uses the
dataclass's type hints: lists become tuples where the field is a tuple,
dicts become the nested dataclass where the field is one, keys the class
does not know are ignored and missing ones take their defaults, so a
payload written by an older or newer version of a model still reads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """``value`` as plain data: dicts, lists, strings, numbers, booleans and None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def from_plain(cls: type[T], data: Mapping[str, Any]) -> T:
    """The ``cls`` instance ``data`` (from :func:`to_plain`) stands for."""
    hints = _fields(cls)
    return cls(**{name: _read(hints[name], value) for name, value in data.items() if name in hints})


@cache
def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _read(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    hint = _without_none(hint)
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_plain(hint, value)
    if (origin is tuple or hint is tuple) and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_read(item, v) for v in value)
    return value


def _without_none(hint: Any) -> Any:
    """``X`` for ``X | None``; other hints as they are."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint
