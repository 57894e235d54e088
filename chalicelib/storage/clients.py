"""The Clients table (DESIGN §7), behind the ``ClientRepository`` port.

One item per client: the hash key ``client_id`` and a ``record`` map holding
``Client.to_record()`` (the secret hash included, the secret never).  Writes
are conditional (PynamoDB ``does_not_exist`` / ``exists``), so a create never
overwrites and a replace never resurrects a deleted client.

Every token request authenticates a client, so each Lambda container keeps
the clients it has read for ``cache_seconds``: a warm container answers
``find`` without calling DynamoDB.  A rotated secret or deleted client is
therefore honoured by other containers within that interval; the container
that made the change forgets its copy at once.  An unknown id is remembered
for ``MISS_SECONDS``, so repeating it does not repeat the read.
"""

from __future__ import annotations

import threading
from time import monotonic
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError
from pynamodb.models import Model

from chalicelib.oauth.clients import Client
from chalicelib.oauth.ports import SecretChanged
from chalicelib.storage import connection


class ClientExists(Exception):
    """``create`` found the client id taken."""


def _model(table_name: str) -> type[Model]:
    """A PynamoDB model bound to ``table_name``; no connection until first use.

    The model declares its key, so PynamoDB 6 never calls DescribeTable.
    Region and endpoint come from the environment (``AWS_DEFAULT_REGION``,
    ``AWS_ENDPOINT_URL``) like every other AWS client here.
    """

    connection.use_one_session()
    meta = type("Meta", (), {"table_name": table_name})

    class ClientItem(Model):
        Meta = meta
        client_id = UnicodeAttribute(hash_key=True)
        record = MapAttribute[str, Any]()

    return ClientItem


def _is_condition_failure(error: PutError | DeleteError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


# An unknown client id is remembered as unknown this long (capped by the
# cache interval), so repeating one id costs one read per interval; a client
# created by another container is therefore usable here within this delay.
MISS_SECONDS = 5
# Remembered misses are bounded (random ids must not grow memory); the oldest go first.
MAX_MISSES = 10_000


class _Cache:
    """Clients read by this container, each trusted for ``seconds``, and recent misses (monotonic clock)."""

    def __init__(self, seconds: int) -> None:
        self._seconds = seconds
        self._entries: dict[str, tuple[float, Client]] = {}
        self._misses: dict[str, float] = {}  # client_id -> until when; oldest first
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Client | None:
        # One dict read is atomic (in free-threaded builds too): no lock on the path of every token request.
        # Writers hold the lock so that an id is never in both maps.
        entry = self._entries.get(client_id)
        if entry is None or entry[0] <= monotonic():
            return None
        return entry[1]

    def is_missing(self, client_id: str) -> bool:
        """True if ``client_id`` was read as absent within the last ``MISS_SECONDS``."""
        with self._lock:
            until = self._misses.get(client_id)
        return until is not None and monotonic() < until

    def put(self, client: Client) -> None:
        if self._seconds <= 0:
            return
        with self._lock:
            self._misses.pop(client.client_id, None)
            self._entries[client.client_id] = (monotonic() + self._seconds, client)

    def put_miss(self, client_id: str) -> None:
        if self._seconds <= 0:
            return
        with self._lock:
            self._entries.pop(client_id, None)
            self._misses.pop(client_id, None)
            while len(self._misses) >= MAX_MISSES:
                del self._misses[next(iter(self._misses))]
            self._misses[client_id] = monotonic() + min(MISS_SECONDS, self._seconds)

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._entries.pop(client_id, None)
            self._misses.pop(client_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._misses.clear()


class DynamoClientRepository:
    """``ClientRepository`` on DynamoDB with a per-container read cache."""

    def __init__(self, table_name: str, *, cache_seconds: int) -> None:
        self._model = _model(table_name)
        self._cache = _Cache(cache_seconds)

    def find(self, client_id: str, *, fresh: bool = False) -> Client | None:
        if not fresh:
            cached = self._cache.get(client_id)
            if cached is not None or self._cache.is_missing(client_id):
                return cached
        client = self._read(client_id, consistent=fresh)
        if client is None:
            self._cache.put_miss(client_id)
        else:
            self._cache.put(client)
        return client

    def create(self, client: Client) -> None:
        """Store a new client; ``ClientExists`` if the id is taken."""
        self._cache.forget(client.client_id)
        try:
            self._item(client).save(condition=self._model.client_id.does_not_exist())
        except PutError as error:
            if _is_condition_failure(error):
                raise ClientExists(client.client_id) from None
            raise

    def replace(self, client: Client, *, if_secret_hash: str | None = None) -> None:
        """Overwrite an existing client; ``KeyError`` if it does not exist.

        With ``if_secret_hash``, only if the stored secret hash is still that
        one (``SecretChanged`` otherwise), so a rotation never overwrites a
        rotation it did not see.
        """
        self._cache.forget(client.client_id)
        condition = self._model.client_id.exists()
        if if_secret_hash is not None:
            condition &= self._model.record["client_secret_hash"] == if_secret_hash
        try:
            self._item(client).save(condition=condition)
        except PutError as error:
            if not _is_condition_failure(error):
                raise
            if if_secret_hash is not None and self._read(client.client_id, consistent=True) is not None:
                raise SecretChanged(client.client_id) from None
            raise KeyError(client.client_id) from None

    def delete(self, client_id: str) -> bool:
        """Remove a client; False if there was none."""
        self._cache.forget(client_id)
        try:
            self._model(client_id).delete(condition=self._model.client_id.exists())
        except DeleteError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def list(self) -> list[Client]:
        return [_client(item) for item in self._model.scan()]

    def _read(self, client_id: str, *, consistent: bool) -> Client | None:
        try:
            item = self._model.get(client_id, consistent_read=consistent)
        except self._model.DoesNotExist:
            return None
        return _client(item)

    def _item(self, client: Client) -> Model:
        record = client.to_record()
        del record["client_id"]
        return self._model(client.client_id, record=record)


def _client(item: Any) -> Client:
    return Client.from_record({**item.record.as_dict(), "client_id": item.client_id})
