"""A model as a state item and back: the one serialiser (:mod:`.serial`) on the port's ``StateItem``.

Every model has a ``KIND``, the state table's item kind; what the item holds
besides the payload (expiry, ``grant_id``, ``subject``, ...) is the caller's,
as persistence stays in the service that calls the port.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, TypeVar

from chalicelib.oauth.models.serial import from_plain, to_plain
from chalicelib.oauth.ports import StateItem


class Model(Protocol):
    KIND: ClassVar[str]


M = TypeVar("M", bound=Model)


def stored(model: Model, id: str, expires_at: int, **attributes: Any) -> StateItem:
    """The item that stores ``model`` under ``id`` (a hash, never the artefact) until ``expires_at``."""
    return StateItem(model.KIND, id, to_plain(model), expires_at, **attributes)


def read(cls: type[M], item: StateItem) -> M:
    """The ``cls`` model ``item`` stores; an item of another kind is a programming error."""
    if item.kind != cls.KIND:
        raise ValueError(f"a {item.kind} item is no {cls.KIND}")
    return from_plain(cls, item.payload)
