"""A cold container's secrets, read in threads of their own while its first client lookup goes on.

A new container holds neither the pepper nor the key set; its first token
request would read the client, then the pepper, then the key set: three
round trips one after the other.  Read ahead, the two secrets are in flight
while the request reads the client (and builds its DynamoDB client), so the
three reads overlap.  The pepper's and the key set's own locks make the
request wait for a read in flight rather than repeat it.

The reads start at the first client lookup of client authentication, not
when a request arrives: a request refused before it (an oversized or
malformed client_id) still costs no AWS call.  A first lookup whose request
then needs no key set (an opaque token, an unknown client) has read it all
the same: one Secrets Manager call per container, which its first JWT would
make anyway.

The two secrets stay two reads: DESIGN §8 keeps the key set in a secret
only the rotation function writes, and that function may not read the
pepper, so one secret holding both would break least privilege.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType

from chalicelib.oauth.clients import Client
from chalicelib.oauth.ports import ClientLookup


class ReadAhead:
    """``start()`` the reads (once); ``with read_ahead:`` around a request joins them before its response leaves.

    Joined, no thread is frozen mid-call with the Lambda container after the
    response; once joined, entering and leaving cost two method calls.
    """

    def __init__(self, *reads: Callable[[], object]) -> None:
        self._reads = reads
        self._readers: tuple[threading.Thread, ...] = ()
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._started:
            return
        with self._lock:
            if self._started:
                return
            self._started = True
            self._readers = tuple(
                threading.Thread(target=_read_quietly, args=(read,), daemon=True) for read in self._reads
            )
            for reader in self._readers:
                reader.start()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._readers:
            for reader in self._readers:
                reader.join()
            self._readers = ()


class StartingReadAhead:
    """A ``ClientLookup`` whose every lookup first makes sure the secrets are being read (once per container)."""

    def __init__(self, clients: ClientLookup, read_ahead: Callable[[], ReadAhead]) -> None:
        self._clients = clients
        self._read_ahead = read_ahead

    def find(self, client_id: str, *, fresh: bool = False) -> Client | None:
        self._read_ahead().start()
        return self._clients.find(client_id, fresh=fresh)


def _read_quietly(read: Callable[[], object]) -> None:
    # A failed read ahead is not this thread's to report: the request reads again when it needs the value,
    # and answers (503, logged) as it would have without reading ahead.
    with suppress(Exception):
        read()
