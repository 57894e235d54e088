"""boto3 clients, created on first use and kept for the life of the container.

Nothing is created at import: a cold start pays for a client only when a
request needs it.  Endpoint and credentials come from the environment
(``AWS_ENDPOINT_URL`` points every client at the embedded AWS locally).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            import boto3  # deferred: importing boto3 costs a cold start ~100 ms

            _clients[service] = boto3.session.Session().client(service)
        return _clients[service]


def reset() -> None:
    """Forget every client (tests switch between moto backends)."""
    with _lock:
        _clients.clear()
