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

Creating a client, botocore checks that the service is one it has a model
for by listing every service it knows (~400 directories, twice: the model
and the endpoint rules), ~20 ms of a cold start; the session's loader
answers that check from the one service's directory instead.  The loader
also reads the SDK's data files (the 1.2 MB of endpoints, the service
models) into plain dicts, which keep their order since Python 3.7, rather
than ``OrderedDict``, which takes about three times as long to build: some
15 ms of a cold start.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.loaders
    import botocore.session

_lock = threading.RLock()
_clients: dict[str, Any] = {}
_service_locks: dict[str, threading.Lock] = {}
_sessions: list[botocore.session.Session] = []


def session() -> botocore.session.Session:
    """The container's one botocore session, whose ``create_client`` is safe to call from any thread."""
    with _lock:
        if not _sessions:
            _sessions.append(_new_session())
        return _sessions[0]


def _new_session() -> botocore.session.Session:
    from botocore.loaders import JSONFileLoader, Loader  # deferred: the SDK costs a cold start ~100 ms
    from botocore.session import Session

    class OneAtATime(Session):
        def create_client(self, *args: Any, **kwargs: Any) -> Any:
            with _lock:
                return super().create_client(*args, **kwargs)

    class AskedServices(Loader):
        def list_available_services(self, type_name: str) -> Sequence[str]:
            return _KnownServices(self, type_name)

    new = OneAtATime()
    data_path = new.get_config_variable("data_path")  # AWS_DATA_PATH, read as botocore's create_loader reads it
    extra = (
        [os.path.expanduser(os.path.expandvars(path)) for path in data_path.split(os.pathsep)] if data_path else None
    )
    new.register_component(
        "data_loader", AskedServices(extra_search_paths=extra, file_loader=_plain_json(JSONFileLoader))
    )
    return new


def _plain_json(base: type[botocore.loaders.JSONFileLoader]) -> botocore.loaders.JSONFileLoader:
    """The SDK's file loader, reading ``.json`` or ``.json.gz`` (in that order, as its own does) into dicts."""

    class PlainJson(base):  # type: ignore[misc,valid-type]
        def load_file(self, file_path: str) -> Any:
            for extension, opener in ((".json", open), (".json.gz", gzip.open)):
                path = file_path + extension
                if os.path.isfile(path):
                    with opener(path, "rb") as data:
                        return json.loads(data.read().decode("utf-8"))
            return None

    return PlainJson()


class _KnownServices(Sequence[str]):
    """The services ``loader`` has ``type_name`` data for: ``in`` looks at one service, anything else lists all."""

    def __init__(self, loader: botocore.loaders.Loader, type_name: str) -> None:
        self._loader, self._type_name = loader, type_name

    def __contains__(self, service: object) -> bool:
        from botocore.exceptions import DataNotFoundError

        try:
            return isinstance(service, str) and bool(self._loader.list_api_versions(service, self._type_name))
        except DataNotFoundError:
            return False

    def _all(self) -> list[str]:
        from botocore.loaders import Loader

        return Loader.list_available_services(self._loader, self._type_name)

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is not None:
        return found
    # Waiting for this service's client only: a thread that wants the client another thread is finishing
    # gets it at once, not after whatever client the session creates next.
    with _creating(service):
        if service not in _clients:
            _clients[service] = session().create_client(service)
        return _clients[service]


def _creating(service: str) -> threading.Lock:
    with _lock:
        return _service_locks.setdefault(service, threading.Lock())


def reset() -> None:
    """Forget every client and the session (tests switch between moto backends and environments)."""
    with _lock:
        _clients.clear()
        _service_locks.clear()
        _sessions.clear()
