"""The state store: every short-lived artefact in one DynamoDB table.

DESIGN §7.  Items are keyed ``KIND#hash`` (never the artefact itself) and
carry ``expires_at`` (the table's TTL attribute), optionally ``grant_id``
and ``user_code`` (each feeding a sparse index), and ``consumed_at`` once
used.  DynamoDB's TTL deletes hours or days late and moto never does, so
every read and every conditional write treats an expired item as absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import clock
from chalicelib.oauth.ports import AlreadyConsumed, StateItem, TooEarly, Unless
from chalicelib.storage import connection
from chalicelib.storage import region as aws_region

GRANT_INDEX = "grant_id-index"
USER_CODE_INDEX = "user_code-index-v2"
# What the verification page needs from a device code, and nothing a poll writes: a write that
# changes no projected attribute does not write the index (one index write per poll saved).
USER_CODE_INDEX_ATTRIBUTES = ("kind", "payload", "expires_at", "consumed_at")
SUBJECT_INDEX = "subject-index"
_INCREMENT_ATTEMPTS = 5


@cache
def state_model(table_name: str) -> type[Model]:
    """The PynamoDB model bound to ``table_name`` (declared keys: no DescribeTable)."""
    connection.use_one_session()

    class GrantIndex(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = GRANT_INDEX
            projection = KeysOnlyProjection()

        grant_id = UnicodeAttribute(hash_key=True)

    class UserCodeIndex(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = USER_CODE_INDEX
            projection = IncludeProjection(list(USER_CODE_INDEX_ATTRIBUTES))

        user_code = UnicodeAttribute(hash_key=True)

    class SubjectIndex(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = SUBJECT_INDEX
            projection = KeysOnlyProjection()

        subject = UnicodeAttribute(hash_key=True)

    class StateRecord(Model):
        class Meta:
            region = aws_region()

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute()
        payload = JSONAttribute()
        expires_at = NumberAttribute()
        grant_id = UnicodeAttribute(null=True)
        user_code = UnicodeAttribute(null=True)
        consumed_at = NumberAttribute(null=True)
        counter = NumberAttribute(null=True)  # only on items `increment` counted
        # Only on items `increment` counted; stored under the names device polls first gave them.
        counted_at = NumberAttribute(null=True, attr_name="polled_at")
        first_counted_at = NumberAttribute(null=True, attr_name="first_polled_at")
        # Grant records: `consume` waits for it; sign-out markers: `insert_all`'s `Unless` compares it.
        not_before = NumberAttribute(null=True)
        subject = UnicodeAttribute(null=True)  # a person's sessions, consents and grant records
        by_grant = GrantIndex()
        by_user_code = UserCodeIndex()
        by_subject = SubjectIndex()

    StateRecord.Meta.table_name = table_name
    return StateRecord


def reset_models() -> None:
    state_model.cache_clear()


def _key(kind: str, id: str) -> str:
    return f"{kind}#{id}"


def _to_item(record: Any) -> StateItem:
    return StateItem(
        kind=record.kind,
        id=record.pk.split("#", 1)[1],
        payload=record.payload,
        expires_at=int(record.expires_at),
        grant_id=record.grant_id,
        user_code=record.user_code,
        consumed_at=_int_or_none(record.consumed_at),
        counter=int(record.counter or 0),
        counted_at=_int_or_none(record.counted_at),
        first_counted_at=_int_or_none(record.first_counted_at),
        not_before=_int_or_none(record.not_before),
        subject=record.subject,
    )


def _int_or_none(value: float | None) -> int | None:
    return int(value) if value is not None else None


def _live(record: Any, now: float) -> bool:
    return record.expires_at > now


def _found(record: Any, now: float) -> bool:
    """What the finders answer: live and not consumed (DynamoDB's TTL deletes late, so expiry is checked here)."""
    return _live(record, now) and record.consumed_at is None


class DynamoStateStore:
    def __init__(self, table_name: str) -> None:
        self._model = state_model(table_name)

    def upsert(self, item: StateItem) -> None:
        self._record(item).save()

    def _get(self, kind: str, id: str) -> Any | None:
        try:
            record = self._model.get(_key(kind, id), consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return record if _live(record, clock.now()) else None

    def find(self, kind: str, id: str, *, even_consumed: bool = False) -> StateItem | None:
        record = self._get(kind, id)
        if record is None or (record.consumed_at is not None and not even_consumed):
            return None
        return _to_item(record)

    def find_many(self, keys: list[tuple[str, str]]) -> list[StateItem]:
        now = clock.now()
        records = self._model.batch_get([_key(kind, id) for kind, id in keys], consistent_read=True)
        return [_to_item(r) for r in records if _found(r, now)]

    def consume(self, kind: str, id: str) -> StateItem:
        """One conditional UpdateItem: exactly one caller ever wins, and gets the item back.

        A refused write returns the item as it was (ReturnValuesOnConditionCheckFailure),
        so telling absence, replay and "too early" apart costs no second read.
        """
        now = int(clock.now())
        model = self._model
        condition = (
            model.pk.exists()
            & model.consumed_at.does_not_exist()
            & (model.expires_at > now)
            & (model.not_before.does_not_exist() | (model.not_before <= now))
        )
        updated, record = self._update(_key(kind, id), [model.consumed_at.set(now)], condition, "ALL_NEW")
        if updated:
            return _to_item(record)
        if record is None or not _live(record, now):
            raise KeyError(id)
        if record.consumed_at is not None:
            raise AlreadyConsumed(_to_item(record))
        raise TooEarly(_to_item(record))

    def _update(self, pk: str, actions: list[Any], condition: Any, return_values: str) -> tuple[bool, Any | None]:
        """One conditional UpdateItem: ``(True, item after or before)`` or ``(False, item as it was or None)``."""
        connection = self._model._get_connection().connection
        request = connection.get_operation_kwargs(
            self._model.Meta.table_name,
            pk,
            actions=actions,
            condition=condition,
            return_values=return_values,
            return_values_on_condition_failure="ALL_OLD",
        )
        try:
            answer = connection.client.update_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raw = exc.response.get("Item")
            return False, self._model.from_raw_data(raw) if raw else None
        attributes = answer.get("Attributes")
        return True, self._model.from_raw_data(attributes) if attributes else None

    def destroy(self, kind: str, id: str) -> None:
        # An unconditional delete of a missing item succeeds: destroy is idempotent.
        self._model(_key(kind, id)).delete()

    def revoke_by_grant(self, grant_id: str) -> int:
        keys = [record.pk for record in self._model.by_grant.query(grant_id)]
        with self._model.batch_write() as batch:
            for pk in keys:
                batch.delete(self._model(pk))
        return len(keys)

    def _record(self, item: StateItem) -> Any:
        return self._model(
            _key(item.kind, item.id),
            kind=item.kind,
            payload=item.payload,
            expires_at=item.expires_at,
            grant_id=item.grant_id,
            user_code=item.user_code,
            subject=item.subject,
            not_before=item.not_before,
        )

    def insert_all(
        self, items: list[StateItem], *, unless: Sequence[Unless] = (), closing: Sequence[tuple[str, str, int]] = ()
    ) -> bool:
        """One TransactWriteItems: each put conditioned on its key being absent or expired.

        Each ``unless`` key adds a ConditionCheck that it is absent, expired, or
        has a ``not_before`` earlier than its ``since``; each ``closing`` key an
        Update that stamps ``consumed_at`` and the expiry on the condition that
        it is not consumed or is expired (absent: it creates the item).
        """
        model, now = self._model, int(clock.now())
        absent = model.pk.does_not_exist() | (model.expires_at <= now)
        try:
            with TransactWrite(connection=model._get_connection().connection) as transaction:
                for item in items:
                    transaction.save(self._record(item), condition=absent)
                for kind, id, since in unless:
                    # A comparison with a missing not_before is false: a live item without one refuses.
                    transaction.condition_check(model, _key(kind, id), condition=absent | (model.not_before < since))
                for kind, id, expires_at in closing:
                    actions = [model.consumed_at.set(now), model.expires_at.set(expires_at), *_created(model, kind)]
                    open_ = model.consumed_at.does_not_exist() | (model.expires_at <= now)
                    transaction.update(model(_key(kind, id)), actions, condition=open_)
        except TransactWriteError as exc:
            if getattr(exc, "cause_response_code", None) == "TransactionCanceledException":
                return False
            raise
        return True

    def increment(
        self, kind: str, id: str, *, at: int | None = None, create_until: int | None = None
    ) -> StateItem | None:
        return self._count(kind, id, int(clock.now()) if at is None else at, create_until)

    def _count(self, kind: str, id: str, at: int, create_until: int | None) -> StateItem | None:
        """One UpdateItem whatever the outcome: ``ADD counter 1`` and the count's times, on the condition
        that the item is live at ``at`` and unconsumed; refused, the item as it is comes back with the refusal.

        None of what it writes is projected into an index (a device poll writes no index).  With
        ``create_until`` an absent item passes the condition too and the write creates it
        (``if_not_exists``); an expired one that TTL has not deleted yet counts as absent: a PutItem
        starts it again, on the condition that it still is expired (Powertools' idempotency-store
        condition).  Whoever loses a race on that PutItem tries again, so every call counts once.
        """
        model = self._model
        for _ in range(_INCREMENT_ATTEMPTS):
            usable = model.pk.exists() & (model.expires_at > at) & model.consumed_at.does_not_exist()
            actions = [
                model.counter.add(1),
                model.counted_at.set(at),
                model.first_counted_at.set(model.first_counted_at | at),
            ]
            if create_until is not None:
                usable = usable | model.pk.does_not_exist()
                actions += [*_created(model, kind), model.expires_at.set(model.expires_at | create_until)]
            updated, record = self._update(_key(kind, id), actions, usable, "ALL_OLD")
            if updated:  # no old image: this write created the item (only with create_until)
                return _to_item(record) if record is not None else StateItem(kind, id, {}, create_until or 0)
            if create_until is None or record is None or _live(record, at):
                return _to_item(record) if record is not None else None  # refused: as it is
            if self._start_again(kind, id, create_until, at):
                return StateItem(kind, id, {}, create_until)
        raise RuntimeError(f"{kind} count stayed contended for {_INCREMENT_ATTEMPTS} attempts")

    def swap(self, before: StateItem, after: StateItem) -> bool:
        """One conditional UpdateItem of what differs; the condition compares the stored JSON with ``before``'s,
        as written, and its ``consumed_at``."""
        model = self._model
        consumed = (
            model.consumed_at.does_not_exist()
            if before.consumed_at is None
            else model.consumed_at == before.consumed_at
        )
        condition = (
            model.pk.exists() & (model.expires_at > int(clock.now())) & consumed & (model.payload == before.payload)
        )
        updated, _ = self._update(_key(before.kind, before.id), _changes(model, before, after), condition, "NONE")
        return updated

    def _start_again(self, kind: str, id: str, expires_at: int, now: int) -> bool:
        """One PutItem: the expired item replaced by a fresh one counting 1, if it still is expired; False if not."""
        model = self._model
        started = model(
            _key(kind, id),
            kind=kind,
            payload={},
            expires_at=expires_at,
            counter=1,
            counted_at=now,
            first_counted_at=now,
        )
        try:
            started.save(condition=model.expires_at <= now)
            return True
        except PutError as exc:
            if not _conditional_failure(exc):
                raise
        return False

    def find_by_subject(self, subject: str) -> list[StateItem]:
        """Every live item of a person: a Query on the sparse subject index, then the items (consistent)."""
        keys = [record.pk for record in self._model.by_subject.query(subject)]
        now = clock.now()
        records = self._model.batch_get(keys, consistent_read=True) if keys else []
        return [_to_item(r) for r in records if _found(r, now) and r.subject == subject]

    def find_by_user_code(self, user_code: str) -> StateItem | None:
        now = clock.now()
        for record in self._model.by_user_code.query(user_code):
            if _found(record, now):
                return _to_item(record)
        return None


def _created(model: Any, kind: str) -> list[Any]:
    """What an UpdateItem sets so that an item it creates is well formed (and on an existing item changes nothing)."""
    return [model.kind.set(model.kind | kind), model.payload.set(model.payload | {})]


def _changes(model: Any, before: StateItem, after: StateItem) -> list[Any]:
    """The update actions that turn ``before`` into ``after``: only what differs is written."""
    if (after.kind, after.id) != (before.kind, before.id):
        raise ValueError("swap replaces an item by itself, changed")
    actions: list[Any] = []
    if after.payload != before.payload:
        actions.append(model.payload.set(after.payload))
    if after.expires_at != before.expires_at:
        actions.append(model.expires_at.set(after.expires_at))
    if after.consumed_at != before.consumed_at:
        consumed = after.consumed_at
        actions.append(model.consumed_at.remove() if consumed is None else model.consumed_at.set(consumed))
    return actions


def _conditional_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"
