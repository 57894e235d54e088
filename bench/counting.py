"""Count and record AWS calls through botocore's event hooks.

``before-parameter-build`` fires once per API call, before any retry and
whatever library made it (boto3 directly, PynamoDB underneath), with the
caller's own parameters: exactly what the raw-boto3 replay needs.  Counting
on it agrees with the test suite's ``aws_calls`` fixture (``before-call``),
which fires once per call too.

The hook is attached to every botocore client created while the recorder is
installed, and does nothing unless :meth:`Recorder.recording` is active, so
timed requests pay one cheap function call per AWS call, as the raw replay's
clients do.

A DynamoDB write is recorded with the items it is about to change, as they
were: single use is a conditional write (a code, a refresh token), and a
replay against the already-consumed item would fail its condition early and
look cheaper than the handler's call.  The replay puts those items back first.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass(frozen=True)
class Before:
    """An item a write was about to change, as it was (None: it did not exist)."""

    table: str
    key: dict[str, Any]
    item: dict[str, Any] | None


@dataclass(frozen=True)
class Call:
    """One AWS API call as the caller made it: ``dynamodb``, ``GetItem``, its parameters."""

    service: str
    operation: str
    params: dict[str, Any] = field(repr=False)
    before: tuple[Before, ...] = field(default=(), repr=False)

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


def written_keys(operation: str, params: dict[str, Any], key_names: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(table, key)`` of every item a DynamoDB write touches; ``key_names(table)`` lists a table's key attributes."""

    def of_item(table: str, item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return table, {name: item[name] for name in key_names(table)}

    if operation == "PutItem":
        return [of_item(params["TableName"], params["Item"])]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["TableName"], params["Key"])]
    touched = []
    if operation == "BatchWriteItem":
        for table, requests in params["RequestItems"].items():
            for request in requests:
                put, delete = request.get("PutRequest"), request.get("DeleteRequest")
                touched.append(of_item(table, put["Item"]) if put else (table, delete["Key"]))
    if operation == "TransactWriteItems":
        for entry in params["TransactItems"]:
            ((kind, action),) = entry.items()
            if kind == "Put":
                touched.append(of_item(action["TableName"], action["Item"]))
            elif kind in ("Update", "Delete"):
                touched.append((action["TableName"], action["Key"]))
    return touched


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    active: bool = False
    _reading: bool = False  # its own snapshot reads are not the handler's calls
    _dynamodb: Any = None
    _key_names: dict[str, list[str]] = field(default_factory=dict)

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.active or self._reading:
            return
        service, operation = model.service_model.service_name, model.name
        before: tuple[Before, ...] = ()
        if service == "dynamodb" and operation in WRITES:
            before = self._snapshot(operation, params)
        self.calls.append(Call(service, operation, copy.deepcopy(params), before))

    def _snapshot(self, operation: str, params: dict[str, Any]) -> tuple[Before, ...]:
        self._reading = True
        try:
            if self._dynamodb is None:
                import boto3

                self._dynamodb = boto3.session.Session().client("dynamodb")
            touched = written_keys(operation, params, self._table_key_names)
            return tuple(
                Before(table, key, self._dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item"))
                for table, key in touched
            )
        finally:
            self._reading = False

    def _table_key_names(self, table: str) -> list[str]:
        if table not in self._key_names:
            schema = self._dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
            self._key_names[table] = [part["AttributeName"] for part in schema]
        return self._key_names[table]

    @contextmanager
    def installed(self) -> Iterator[Recorder]:
        """Hook every botocore client created inside the block (create AWS clients after entering it)."""
        create_client = botocore.session.Session.create_client
        recorder = self

        def hooked_create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = create_client(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build.*.*", recorder._on_call)
            return client

        botocore.session.Session.create_client = hooked_create_client  # type: ignore[method-assign]
        try:
            yield self
        finally:
            botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
            self.forget_clients()

    def forget_clients(self) -> None:
        """A new embedded AWS: the snapshot client and the tables it knew belong to the old one."""
        self._dynamodb = None
        self._key_names.clear()

    @contextmanager
    def recording(self) -> Iterator[list[Call]]:
        """The calls made inside the block, in order."""
        self.calls = []
        self.active = True
        try:
            yield self.calls
        finally:
            self.active = False


def restore(dynamodb: Any, calls: list[Call]) -> None:
    """Put back every item ``calls`` wrote, as it was before the first of them."""
    for call in reversed(calls):
        for before in reversed(call.before):
            if before.item is None:
                dynamodb.delete_item(TableName=before.table, Key=before.key)
            else:
                dynamodb.put_item(TableName=before.table, Item=before.item)


def by_operation(calls: list[Call]) -> dict[str, int]:
    return dict(Counter(call.name for call in calls))
