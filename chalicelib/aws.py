"""AWS clients, created on first use from one SDK session and kept for the life of the container.

Nothing is created at import: a cold start pays for a client only when a
request needs it.  Endpoint and credentials come from the environment
(``AWS_ENDPOINT_URL`` points every client at the embedded AWS locally).

One botocore session serves every client, PynamoDB's included
(:mod:`chalicelib.storage.connection`): a session loads the SDK's endpoint
data and each service model once, about 60 ms of a cold start per extra
session.  botocore directly, not boto3: importing boto3 (and s3transfer)
adds ~30 ms and nothing here uses it.  A botocore session is not
thread-safe, so clients are created one at a time; the clients themselves
are (the first request reads its secrets from several threads).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session

_lock = threading.RLock()
_clients: dict[str, Any] = {}
_sessions: list[botocore.session.Session] = []


def session() -> botocore.session.Session:
    """The container's one botocore session, whose ``create_client`` is safe to call from any thread."""
    with _lock:
        if not _sessions:
            from botocore.session import Session  # deferred: the SDK costs a cold start ~100 ms

            class OneAtATime(Session):
                def create_client(self, *args: Any, **kwargs: Any) -> Any:
                    with _lock:
                        return super().create_client(*args, **kwargs)

            _sessions.append(OneAtATime())
        return _sessions[0]


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            _clients[service] = session().create_client(service)
        return _clients[service]


def reset() -> None:
    """Forget every client and the session (tests switch between moto backends and environments)."""
    with _lock:
        _clients.clear()
        _sessions.clear()
