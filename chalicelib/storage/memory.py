"""The state store in memory: the same port and the same rules as the DynamoDB adapter, for fast tests.

DESIGN §7, like node-oidc-provider's ``memory_adapter.js`` beside its real
adapters.  Every rule of ``storage/state.py`` holds here too, and
tests/contract/ runs one suite against both to keep it so:

- every read and every conditional write treats an expired item as absent
  (DynamoDB's TTL deletes late, so the DynamoDB adapter cannot rely on it);
- single use is a conditional write (``consumed_at`` must not exist), never
  read-then-write: one lock makes each call one atomic step, as DynamoDB
  applies each item write (and each transaction) atomically;
- ``upsert`` replaces the whole item (PutItem): what ``consume``, ``record_poll``,
  ``tally``, ``settle``, ``increment`` and ``insert_all``'s ``closing`` wrote is gone;
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
from chalicelib.oauth.ports import AlreadyConsumed, StateItem, TooEarly

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


_Keys = Sequence[tuple[str, str]]  # (kind, id)
_DatedKeys = Sequence[tuple[str, str, int]]  # (kind, id, time)


@dataclass(frozen=True)
class _Record:
    """One stored item with what the port never hands out (``settled_at``)."""

    item: StateItem
    settled_at: int | None = None

    def live(self, now: float) -> bool:
        return self.item.expires_at > now

    def usable(self, now: float) -> bool:
        """Live and unconsumed: what reads return and most conditional writes require."""
        return self.live(now) and self.item.consumed_at is None


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

    def release(self, kind: str, id: str, consumed_at: int) -> bool:
        # Only our own consume, and no expiry condition: exactly the DynamoDB adapter's condition.
        def step() -> bool:
            record = self._items.get((kind, id))
            if record is None or record.item.consumed_at != consumed_at:
                return False
            self._items[(kind, id)] = replace(record, item=replace(record.item, consumed_at=None))
            return True

        return self._atomic(step)

    def destroy(self, kind: str, id: str) -> None:
        self._atomic(lambda: self._items.pop((kind, id), None))

    def set_expiry(self, kind: str, id: str, expires_at: int) -> bool:
        def step() -> bool:
            record = self._items.get((kind, id))
            if record is None or not record.usable(int(clock.now())):
                return False
            self._items[(kind, id)] = replace(record, item=replace(record.item, expires_at=expires_at))
            return True

        return self._atomic(step)

    def revoke_by_grant(self, grant_id: str) -> int:
        """Every item of the grant goes, expired and consumed ones too (the index holds them all)."""

        def step() -> int:
            keys = [key for key, record in self._items.items() if record.item.grant_id == grant_id]
            for key in keys:
                del self._items[key]
            return len(keys)

        return self._atomic(step)

    def insert_all(
        self, items: list[StateItem], *, unless: _Keys = (), unless_since: _DatedKeys = (), closing: _DatedKeys = ()
    ) -> bool:
        keys = [(item.kind, item.id) for item in items] + list(unless)
        keys += [(k, i) for k, i, _ in unless_since] + [(k, i) for k, i, _ in closing]
        if len(set(keys)) != len(keys):
            raise ValueError("insert_all: the same key twice (DynamoDB refuses two operations on one item)")
        for kind, id in keys:
            _check_size(kind, id)
        return self._atomic(lambda: self._insert_all(items, unless, unless_since, closing))

    def _insert_all(self, items: list[StateItem], unless: _Keys, unless_since: _DatedKeys, closing: _DatedKeys) -> bool:
        now = int(clock.now())

        def absent(kind: str, id: str) -> bool:
            record = self._items.get((kind, id))
            return record is None or not record.live(now)

        def dated_before(kind: str, id: str, since: int) -> bool:
            # DynamoDB: a comparison with a missing attribute is false, so a live item without one blocks.
            not_before = self._items[(kind, id)].item.not_before
            return not_before is not None and not_before < since

        if not all(absent(item.kind, item.id) for item in items) or not all(absent(k, i) for k, i in unless):
            return False
        if not all(absent(k, i) or dated_before(k, i, since) for k, i, since in unless_since):
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

    def record_poll(self, kind: str, id: str, polled_at: int) -> StateItem | None:
        def step() -> StateItem | None:
            record = self._items.get((kind, id))
            if record is None:
                return None
            before = record.item
            # Condition on the poll's own time, as the DynamoDB adapter's: refused, the item comes back unchanged.
            if before.expires_at > polled_at and before.consumed_at is None:
                polled = replace(
                    before,
                    polled_at=polled_at,
                    first_polled_at=before.first_polled_at if before.first_polled_at is not None else polled_at,
                    counter=before.counter + 1,
                )
                self._items[(kind, id)] = replace(record, item=polled)
            return _handed_out(before)

        return self._atomic(step)

    def tally(self, kind: str, id: str, *, create_until: int | None = None) -> StateItem | None:
        _check_size(kind, id)

        def step() -> StateItem | None:
            now = int(clock.now())
            record = self._items.get((kind, id))
            if create_until is not None and (record is None or not record.live(now)):
                self._items[(kind, id)] = _Record(StateItem(kind, id, {}, create_until, counter=1))
                return StateItem(kind, id, {}, create_until)
            if record is None or not record.usable(now):
                return None
            self._items[(kind, id)] = replace(record, item=replace(record.item, counter=record.item.counter + 1))
            return _handed_out(record.item)

        return self._atomic(step)

    def settle(self, kind: str, id: str, payload: dict[str, Any]) -> bool:
        def step() -> bool:
            now = int(clock.now())
            record = self._items.get((kind, id))
            if record is None or not record.usable(now) or record.settled_at is not None:
                return False
            self._items[(kind, id)] = _Record(replace(record.item, payload=_copy(payload)), settled_at=now)
            return True

        return self._atomic(step)

    def increment(self, kind: str, id: str, expires_at: int) -> int:
        """Count one more; an absent or expired counter starts again at 1 with ``expires_at``."""
        _check_size(kind, id)

        def step() -> int:
            record = self._items.get((kind, id))
            if record is None or not record.live(int(clock.now())):
                self._items[(kind, id)] = _Record(StateItem(kind, id, {}, expires_at, counter=1))
                return 1
            counted = replace(record.item, counter=record.item.counter + 1)
            self._items[(kind, id)] = replace(record, item=counted)
            return counted.counter

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
