"""The local stack's state file: snapshots of the declared tables and secrets, saved and restored.

moto keeps everything in memory, so ``make run`` would start empty every time.
This module turns what :func:`infra.template.apply_template` created into one
JSON snapshot (:func:`take_snapshot`), puts a snapshot back after the template
is applied again (:func:`restore_snapshot`), and keeps ``.local/state.json``
current from a background thread (``_Persistence``).  The file holds secrets:
it is written atomically with mode 0600.  KMS keys are not saved.

It is apart from :mod:`infra.local` because it only needs boto3 clients and the
applied template, not the server or ``chalice local`` around them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.template import AppliedTemplate, _Clients

log = logging.getLogger("tollgate.local")

STATE_FORMAT = 1


def _encode_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot save {type(value).__name__}")


def _decode_bytes(value: dict[str, Any]) -> Any:
    return base64.b64decode(value["$b64"]) if value.keys() == {"$b64"} else value


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=1, default=_encode_bytes)


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items = [item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    return sorted(items, key=_dumps)  # stable order: an unchanged table serialises identically


def _secret_value(secrets: Any, name: str) -> dict[str, Any]:
    answer = secrets.get_secret_value(SecretId=name)
    return {key: answer[key] for key in ("SecretString", "SecretBinary") if key in answer}


def take_snapshot(clients: _Clients, applied: AppliedTemplate) -> dict[str, Any]:
    """Every item of every declared table and the current value of every declared secret."""
    return {
        "format": STATE_FORMAT,
        "tables": {name: _scan(clients.dynamodb, name) for name in applied.tables.values()},
        "secrets": {name: _secret_value(clients.secretsmanager, name) for name in applied.secrets.values()},
    }


def restore_snapshot(clients: _Clients, applied: AppliedTemplate, snapshot: dict[str, Any]) -> None:
    """Put saved items back and give each declared secret its saved value (newly created KMS key or not)."""
    if snapshot.get("format") != STATE_FORMAT:
        raise ValueError(f"state format {snapshot.get('format')!r} is not {STATE_FORMAT}")
    dropped = (set(snapshot["tables"]) - set(applied.tables.values())) | (
        set(snapshot["secrets"]) - set(applied.secrets.values())
    )
    if dropped:
        log.warning("not restoring %s: no longer declared in the template", sorted(dropped))
    for table in applied.tables.values():
        _put_items(clients.dynamodb, table, snapshot["tables"].get(table, []))
    for name in applied.secrets.values():
        saved = snapshot["secrets"].get(name)
        if saved and saved != _secret_value(clients.secretsmanager, name):
            clients.secretsmanager.put_secret_value(SecretId=name, **saved)


def _put_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):  # BatchWriteItem takes at most 25 requests
        requests = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


def _write_atomically(path: Path, text: str) -> None:
    """Temp file + rename: a crash leaves the old state or the new one, never half of one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class _Persistence:
    """Saves the declared tables and secrets to one JSON file (it holds secrets: mode 0600).

    A background thread saves every ``interval`` seconds, but only scans when the
    server saw a request that may write since the last save; the file is
    rewritten only when its content changed.  ``stop`` saves one last time.
    """

    def __init__(self, path: Path, clients: _Clients, applied: AppliedTemplate, writes: Callable[[], int]) -> None:
        self.path, self._clients, self._applied, self._writes = path, clients, applied, writes
        self._lock = threading.Lock()
        self._saved_text: str | None = None
        self._saved_at_writes: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def restore(self) -> bool:
        if not self.path.exists():
            return False
        text = self.path.read_text(encoding="utf-8")
        try:
            snapshot = json.loads(text, object_hook=_decode_bytes)
        except ValueError as error:  # never silently start empty over someone's clients and users
            raise RuntimeError(f"{self.path} is unreadable ({error}); move it away to start empty") from error
        restore_snapshot(self._clients, self._applied, snapshot)
        self._saved_text = text
        return True

    def save(self) -> bool:
        """Write the file if anything changed; True when it did."""
        with self._lock:
            writes = self._writes()
            if writes == self._saved_at_writes:
                return False
            text = _dumps(take_snapshot(self._clients, self._applied))
            changed = text != self._saved_text
            if changed:
                _write_atomically(self.path, text)
                self._saved_text = text
            self._saved_at_writes = writes  # only once the file holds everything up to `writes`
            return changed

    def start(self, interval: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(interval,), name="local-state-saver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.save()

    def _run(self, interval: float) -> None:
        wait = interval
        while not self._stopping.wait(wait):
            started = time.monotonic()
            try:
                self.save()
            except Exception:  # keep saving later; a failed save must not end persistence
                log.exception("saving %s failed", self.path)
            wait = max(interval, 5 * (time.monotonic() - started))  # scanning never takes over 1/6 of the time
