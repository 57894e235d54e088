"""``increment``'s forms over each adapter's one counting write, written once for both adapters.

An adapter implements ``_count`` (one atomic conditional write, see
``StateStore.increment``); the window counter's positional form and
``tally`` (the interaction flows' form, until they call ``increment``) are
answers read off the item it returns, so no adapter has a second way to count.
"""

from __future__ import annotations

import time

from chalicelib.oauth.ports import StateItem


class CountingForms:
    def _count(self, kind: str, id: str, at: int, create_until: int | None) -> StateItem | None:
        raise NotImplementedError

    def increment(
        self,
        kind: str,
        id: str,
        expires_at: int | None = None,
        *,
        at: int | None = None,
        create_until: int | None = None,
    ) -> int | StateItem | None:
        """``StateStore.increment``: its two forms (the port declares their overloads)."""
        now = int(time.time()) if at is None else at
        if expires_at is None:
            return self._count(kind, id, now, create_until)
        before = self._count(kind, id, now, expires_at)
        return (before.counter if before is not None else 0) + 1  # counters are never consumed: always counted

    def tally(self, kind: str, id: str, *, create_until: int | None = None) -> StateItem | None:
        now = int(time.time())
        before = self._count(kind, id, now, create_until)
        return before if before is not None and before.usable(now) else None
