"""The state store: every short-lived artefact in one DynamoDB table.

DESIGN §7.  Items are keyed ``KIND#hash`` (never the artefact itself) and
carry ``expires_at`` (the table's TTL attribute), optionally ``grant_id``
and ``user_code`` (each feeding a sparse index), and ``consumed_at`` once
used.  DynamoDB's TTL deletes hours or days late and moto never does, so
every read and every conditional write treats an expired item as absent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cache
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.oauth.ports import AlreadyConsumed, StateItem
from chalicelib.storage import region as aws_region

GRANT_INDEX = "grant_id-index"
USER_CODE_INDEX = "user_code-index"
SUBJECT_INDEX = "subject-index"
_INCREMENT_ATTEMPTS = 5


@cache
def state_model(table_name: str) -> type[Model]:
    """The PynamoDB model bound to ``table_name`` (declared keys: no DescribeTable)."""

    class GrantIndex(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = GRANT_INDEX
            projection = KeysOnlyProjection()

        grant_id = UnicodeAttribute(hash_key=True)

    class UserCodeIndex(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = USER_CODE_INDEX
            projection = AllProjection()

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
        counter = NumberAttribute(null=True)  # only on items `increment` keeps
        polled_at = NumberAttribute(null=True)  # only on items `record_poll` stamps
        settled_at = NumberAttribute(null=True)  # only on items `settle` changed
        subject = UnicodeAttribute(null=True)  # a person's sessions, consents and grant records
        not_before = NumberAttribute(null=True)  # only on sign-out markers: `insert_all` conditions on it
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
        consumed_at=int(record.consumed_at) if record.consumed_at is not None else None,
        counter=int(record.counter or 0),
        polled_at=int(record.polled_at) if record.polled_at is not None else None,
        subject=record.subject,
        not_before=int(record.not_before) if record.not_before is not None else None,
    )


def _live(record: Any, now: float) -> bool:
    return record.expires_at > now


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
        return record if _live(record, time.time()) else None

    def find(self, kind: str, id: str) -> StateItem | None:
        record = self._get(kind, id)
        if record is None or record.consumed_at is not None:
            return None
        return _to_item(record)

    def find_many(self, keys: list[tuple[str, str]]) -> list[StateItem]:
        now = time.time()
        records = self._model.batch_get([_key(kind, id) for kind, id in keys], consistent_read=True)
        return [_to_item(r) for r in records if _live(r, now) and r.consumed_at is None]

    def consume(self, kind: str, id: str) -> StateItem:
        """One conditional UpdateItem: exactly one caller ever wins, and gets the item back."""
        now = int(time.time())
        model = self._model
        record = model(_key(kind, id))
        try:
            record.update(
                actions=[model.consumed_at.set(now)],
                condition=model.pk.exists() & model.consumed_at.does_not_exist() & (model.expires_at > now),
            )
        except UpdateError as exc:
            if not _conditional_failure(exc):
                raise
            # The rare losing path pays a second read to tell replay from absence.
            existing = self._get(kind, id)
            if existing is None:
                raise KeyError(id) from None
            raise AlreadyConsumed(_to_item(existing)) from None
        return _to_item(record)

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

    def is_expired(self, kind: str, id: str) -> bool:
        try:
            record = self._model.get(_key(kind, id), consistent_read=True)
        except self._model.DoesNotExist:
            return False
        return record.consumed_at is None and not _live(record, time.time())

    def insert_all(
        self,
        items: list[StateItem],
        *,
        unless: Sequence[tuple[str, str]] = (),
        unless_since: Sequence[tuple[str, str, int]] = (),
    ) -> bool:
        """One TransactWriteItems: each put conditioned on its key being absent or expired.

        Each ``unless`` key adds a ConditionCheck that it is absent or expired too;
        each ``unless_since`` ``(kind, id, time)`` one that it is absent, expired,
        or has a ``not_before`` earlier than ``time``.
        """
        model, now = self._model, int(time.time())
        absent = model.pk.does_not_exist() | (model.expires_at <= now)
        try:
            with TransactWrite(connection=model._get_connection().connection) as transaction:
                for item in items:
                    transaction.save(self._record(item), condition=absent)
                for kind, id in unless:
                    transaction.condition_check(model, _key(kind, id), condition=absent)
                for kind, id, since in unless_since:
                    transaction.condition_check(model, _key(kind, id), condition=absent | (model.not_before < since))
        except TransactWriteError as exc:
            if getattr(exc, "cause_response_code", None) == "TransactionCanceledException":
                return False
            raise
        return True

    def record_poll(self, kind: str, id: str, polled_at: int) -> StateItem | None:
        model = self._model
        condition = model.pk.exists() & (model.expires_at > polled_at) & model.consumed_at.does_not_exist()
        try:
            answer = model._get_connection().update_item(
                _key(kind, id), actions=[model.polled_at.set(polled_at)], condition=condition, return_values="ALL_OLD"
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                return None
            raise
        return _to_item(model.from_raw_data(answer["Attributes"]))

    def settle(self, kind: str, id: str, payload: dict[str, Any]) -> bool:
        model, now = self._model, int(time.time())
        condition = (
            model.pk.exists()
            & (model.expires_at > now)
            & model.settled_at.does_not_exist()
            & model.consumed_at.does_not_exist()
        )
        try:
            model(_key(kind, id)).update(
                actions=[model.payload.set(payload), model.settled_at.set(now)], condition=condition
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def increment(self, kind: str, id: str, expires_at: int) -> int:
        """Count one more, atomically; an expired counter counts as absent (DESIGN §7).

        Usually one UpdateItem ``ADD counter 1`` on the condition that the item
        is live.  When it is absent or expired, one PutItem starts it at 1 on
        the condition that it still is (Powertools' idempotency-store condition).
        Whoever loses a race on either write tries again, so every call is
        counted exactly once.
        """
        model = self._model
        for _ in range(_INCREMENT_ATTEMPTS):
            now = int(time.time())
            record = model(_key(kind, id))
            try:
                record.update(actions=[model.counter.add(1)], condition=model.pk.exists() & (model.expires_at > now))
                return int(record.counter)
            except UpdateError as exc:
                if not _conditional_failure(exc):
                    raise
            started = model(_key(kind, id), kind=kind, payload={}, expires_at=expires_at, counter=1)
            try:
                started.save(condition=model.pk.does_not_exist() | (model.expires_at <= now))
                return 1
            except PutError as exc:
                if not _conditional_failure(exc):
                    raise
        raise RuntimeError(f"{kind} counter stayed contended for {_INCREMENT_ATTEMPTS} attempts")

    def find_by_subject(self, subject: str) -> list[StateItem]:
        """Every live item of a person: a Query on the sparse subject index, then the items (consistent)."""
        keys = [record.pk for record in self._model.by_subject.query(subject)]
        now = time.time()
        records = self._model.batch_get(keys, consistent_read=True) if keys else []
        return [_to_item(r) for r in records if _live(r, now) and r.consumed_at is None and r.subject == subject]

    def find_by_user_code(self, user_code: str) -> StateItem | None:
        now = time.time()
        for record in self._model.by_user_code.query(user_code):
            if _live(record, now) and record.consumed_at is None:
                return _to_item(record)
        return None


def _conditional_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"
