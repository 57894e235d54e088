"""The state store in memory: the same port and the same rules as the DynamoDB adapter, for fast tests.

DESIGN §7, like node-oidc-provider's ``memory_adapter.js`` beside its real
adapters.  Every rule of ``storage/state.py`` holds here too, and
tests/contract/ runs one suite against both to keep it so:

- every read and every conditional write treats an expired item as absent
  (DynamoDB's TTL deletes late, so the DynamoDB adapter cannot rely on it);
- single use is a conditional write (``consumed_at`` must not exist), never
  read-then-write: one lock makes each call one atomic step, as DynamoDB
  applies each item write (and each transaction) atomically;
- ``upsert`` replaces the whole item (PutItem): what ``consume``, ``increment``
  and ``insert_all``'s ``closing`` wrote is gone;
- ``find_by_user_code`` answers from what its index projects
  (``USER_CODE_INDEX_ATTRIBUTES``), not from the whole item;
- payloads go through JSON, as PynamoDB's ``JSONAttribute`` does, so a caller
  never shares (or mutates) what is stored.

Nothing here imports an AWS SDK (an import-linter contract checks it); the
clock is ``chalicelib.clock`` like the DynamoDB adapter's, so the tests'
``frozen_clock`` fixture moves both.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from chalicelib import clock
from chalicelib.oauth.ports import AlreadyConsumed, StateItem, TooEarly, Unless

_Result = TypeVar("_Result")
MAX_KEY_BYTES = 2048  # DynamoDB's limit on a partition key


class KeyTooLarge(Exception):
    """DynamoDB's refusal of an oversized key, in the shape ``storage.errors.oversized_key`` recognises."""

    def __init__(self, key: str) -> None:
        super().__init__(f"a key of {len(key.encode())} bytes")
        message = f"Size of hashkey has exceeded the maximum size limit of{MAX_KEY_BYTES} bytes"
        self.response = {"Error": {"Code": "ValidationException", "Message": message}}


def _check_size(kind: str, id: str) -> None:
    """Refuse what DynamoDB refuses to write: a ``KIND#id`` key over 2048 bytes (from the request, never ours)."""
    key = f"{kind}#{id}"
    if len(key.encode()) > MAX_KEY_BYTES:
        raise KeyTooLarge(key)


_DatedKeys = Sequence[tuple[str, str, int]]  # (kind, id, expires_at)


@dataclass(frozen=True)
class _Record:
    """One stored item, and the rules every read and conditional write checks."""

    item: StateItem

    def live(self, now: float) -> bool:
        return self.item.expires_at > now

    def usable(self, now: float) -> bool:
        """Live and unconsumed: what reads return and most conditional writes require."""
        return self.item.usable(now)


def _copy(payload: dict[str, Any]) -> dict[str, Any]:
    """What PynamoDB's JSONAttribute would store and give back: a JSON round trip."""
    copied: dict[str, Any] = json.loads(json.dumps(payload))
    return copied


def _stored(item: StateItem) -> StateItem:
    """What a PutItem keeps of ``item``: the attributes ``DynamoStateStore._record`` writes, nothing else."""
    return StateItem(
        item.kind,
        item.id,
        _copy(item.payload),
        int(item.expires_at),
        grant_id=item.grant_id,
        user_code=item.user_code,
        subject=item.subject,
        not_before=item.not_before,
    )


def _handed_out(item: StateItem) -> StateItem:
    return replace(item, payload=_copy(item.payload))


class MemoryStateStore:
    """The ``StateStore`` port on a dict behind one lock."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()

    def _atomic(self, step: Callable[[], _Result]) -> _Result:
        """Run ``step`` as one indivisible write, as DynamoDB applies one request."""
        with self._lock:
            return step()

    def upsert(self, item: StateItem) -> None:
        _check_size(item.kind, item.id)
        self._atomic(lambda: self._put(item))

    def _put(self, item: StateItem) -> None:
        self._items[(item.kind, item.id)] = _Record(_stored(item))

    def _usable(self, kind: str, id: str) -> StateItem | None:
        record = self._items.get((kind, id))
        return _handed_out(record.item) if record and record.usable(clock.now()) else None

    def find(self, kind: str, id: str, *, even_consumed: bool = False) -> StateItem | None:
        if not even_consumed:
            return self._atomic(lambda: self._usable(kind, id))

        def step() -> StateItem | None:
            record = self._items.get((kind, id))
            return _handed_out(record.item) if record and record.live(clock.now()) else None

        return self._atomic(step)

    def find_many(self, keys: list[tuple[str, str]]) -> list[StateItem]:
        unique = list(dict.fromkeys(keys))  # PynamoDB's batch_get asks for each key once
        found = self._atomic(lambda: [self._usable(kind, id) for kind, id in unique])
        return [item for item in found if item is not None]

    def consume(self, kind: str, id: str) -> StateItem:
        return self._atomic(lambda: self._consume(kind, id))

    def _consume(self, kind: str, id: str) -> StateItem:
        now = int(clock.now())
        record = self._items.get((kind, id))
        if record is None or not record.live(now):
            raise KeyError(id)
        if record.item.consumed_at is not None:
            raise AlreadyConsumed(_handed_out(record.item))
        if record.item.not_before is not None and record.item.not_before > now:
            raise TooEarly(_handed_out(record.item))
        consumed = replace(record, item=replace(record.item, consumed_at=now))
        self._items[(kind, id)] = consumed
        return _handed_out(consumed.item)

    def destroy(self, kind: str, id: str) -> None:
        self._atomic(lambda: self._items.pop((kind, id), None))

    def revoke_by_grant(self, grant_id: str) -> int:
        """Every item of the grant goes, expired and consumed ones too (the index holds them all)."""

        def step() -> int:
            keys = [key for key, record in self._items.items() if record.item.grant_id == grant_id]
            for key in keys:
                del self._items[key]
            return len(keys)

        return self._atomic(step)

    def insert_all(self, items: list[StateItem], *, unless: Sequence[Unless] = (), closing: _DatedKeys = ()) -> bool:
        keys = [(item.kind, item.id) for item in items] + [(k, i) for k, i, _ in unless]
        keys += [(k, i) for k, i, _ in closing]
        if len(set(keys)) != len(keys):
            raise ValueError("insert_all: the same key twice (DynamoDB refuses two operations on one item)")
        for kind, id in keys:
            _check_size(kind, id)
        return self._atomic(lambda: self._insert_all(items, unless, closing))

    def _insert_all(self, items: list[StateItem], unless: Sequence[Unless], closing: _DatedKeys) -> bool:
        now = int(clock.now())

        def absent(kind: str, id: str) -> bool:
            record = self._items.get((kind, id))
            return record is None or not record.live(now)

        def dated_before(kind: str, id: str, since: int) -> bool:
            # DynamoDB: a comparison with a missing attribute is false, so a live item without one refuses.
            not_before = self._items[(kind, id)].item.not_before
            return not_before is not None and not_before < since

        if not all(absent(item.kind, item.id) for item in items):
            return False
        if not all(absent(k, i) or dated_before(k, i, since) for k, i, since in unless):
            return False
        if any(not absent(k, i) and self._items[(k, i)].item.consumed_at is not None for k, i, _ in closing):
            return False
        for item in items:
            self._put(item)
        for kind, id, expires_at in closing:
            self._close(kind, id, expires_at, now)
        return True

    def _close(self, kind: str, id: str, expires_at: int, now: int) -> None:
        """Consumed now, live until ``expires_at``: what else it held stays, as the DynamoDB adapter's Update."""
        record = self._items.get((kind, id)) or _Record(StateItem(kind, id, {}, expires_at))
        self._items[(kind, id)] = replace(record, item=replace(record.item, consumed_at=now, expires_at=expires_at))

    def find_by_subject(self, subject: str) -> list[StateItem]:
        def step() -> list[StateItem]:
            now = clock.now()
            mine = [r.item for r in self._items.values() if r.item.subject == subject and r.usable(now)]
            return [_handed_out(item) for item in mine]

        return self._atomic(step)

    def increment(
        self, kind: str, id: str, *, at: int | None = None, create_until: int | None = None
    ) -> StateItem | None:
        return self._count(kind, id, int(clock.now()) if at is None else at, create_until)

    def _count(self, kind: str, id: str, at: int, create_until: int | None) -> StateItem | None:
        if create_until is not None:
            _check_size(kind, id)

        def step() -> StateItem | None:
            record = self._items.get((kind, id))
            if create_until is not None and (record is None or not record.live(at)):
                fresh = StateItem(kind, id, {}, create_until)
                self._items[(kind, id)] = _Record(replace(fresh, counter=1, counted_at=at, first_counted_at=at))
                return fresh
            if record is None:
                return None
            before = record.item
            if before.usable(at):  # the condition on the count's own time, as the DynamoDB adapter's
                first = before.first_counted_at if before.first_counted_at is not None else at
                counted = replace(before, counter=before.counter + 1, counted_at=at, first_counted_at=first)
                self._items[(kind, id)] = _Record(counted)
            return _handed_out(before)  # refused: the item comes back unchanged

        return self._atomic(step)

    def swap(self, before: StateItem, after: StateItem) -> bool:
        if (after.kind, after.id) != (before.kind, before.id):
            raise ValueError("swap replaces an item by itself, changed")

        def step() -> bool:
            record = self._items.get((before.kind, before.id))
            if record is None or not record.live(clock.now()):
                return False
            if (record.item.payload, record.item.consumed_at) != (before.payload, before.consumed_at):
                return False
            changed = replace(
                record.item, payload=_copy(after.payload), expires_at=after.expires_at, consumed_at=after.consumed_at
            )
            self._items[(before.kind, before.id)] = _Record(changed)
            return True

        return self._atomic(step)

    def find_by_user_code(self, user_code: str) -> StateItem | None:
        """What the user-code index projects: kind, payload, expiry and the keys; nothing a poll or grant wrote."""

        def step() -> StateItem | None:
            now = clock.now()
            for record in self._items.values():
                item = record.item
                if item.user_code == user_code and record.usable(now):
                    return StateItem(item.kind, item.id, _copy(item.payload), item.expires_at, user_code=user_code)
            return None

        return self._atomic(step)
