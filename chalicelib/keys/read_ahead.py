"""A cold container's secrets, read in threads of their own while its first request does the rest.

A new container holds neither the pepper nor the key set; its first token
request would read the client, then the pepper, then the key set: three
round trips one after the other.  Read ahead, the two secrets are in flight
while the request reads the client (and imports and builds what it needs),
so the three reads overlap.  The pepper's and the key set's own locks make
the request wait for a read in flight rather than repeat it.

The two secrets stay two reads: DESIGN §8 keeps the key set in a secret
only the rotation function writes, and that function may not read the
pepper, so one secret holding both would break least privilege.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType


class ReadAhead:
    """``with read_ahead:`` around a request; the reads start at construction, once per container.

    Leaving the block joins the readers, so no thread is frozen mid-call
    with the Lambda container after the response; once joined, entering
    and leaving cost two method calls.
    """

    def __init__(self, *reads: Callable[[], object]) -> None:
        self._readers = tuple(threading.Thread(target=_read_quietly, args=(read,), daemon=True) for read in reads)
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


def _read_quietly(read: Callable[[], object]) -> None:
    # A failed read ahead is not this thread's to report: the request reads again when it needs the value,
    # and answers (503, logged, counted) as it would have without reading ahead.
    with suppress(Exception):
        read()
