"""moto's server in a thread of this process, applying one AWS request at a time.

Part of the embedded local AWS (:mod:`infra.local`, DESIGN §9 and §10): the
WSGI wrapper that gives the local stack DynamoDB's atomic conditional writes
and counts the requests that may write, so an idle stack goes unsaved.
"""

from __future__ import annotations

import functools
import http.client
import threading
from collections.abc import Callable
from typing import Any

# Operations that cannot change what is persisted; anything else counts as a write.
_READ_ONLY_PREFIXES = (
    "Get", "BatchGet", "TransactGet", "Describe", "List", "Scan", "Query",
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateRandom", "Sign", "Verify",
)  # fmt: skip


class _WriteCounter:
    """WSGI middleware: applies one AWS request at a time and counts those that may write.

    DynamoDB applies each conditional write atomically; moto takes no locks, so
    two racing ``consume`` calls could both pass their condition.  Applying
    requests one at a time restores DynamoDB's guarantee for the local stack.
    The count lets an idle stack go unscanned.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._apply = threading.Lock()
        self.count = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._apply:
            response = self._app(environ, start_response)  # the backend has applied the request by now
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if not operation.startswith(_READ_ONLY_PREFIXES):
            with self._lock:
                self.count += 1
        return response


_one_server_per_process = threading.Lock()


class MotoServer:
    """moto's server in a thread of this process.

    Unlike ``ThreadedMotoServer`` it binds before returning (a busy port fails at
    once instead of hanging), logs no line per request and counts writes.
    moto's backends are process-global, so only one may run at a time and
    ``stop`` resets them: a restart in the same process starts empty, like a new
    ``make run``.
    """

    def __init__(self, host: str, port: int) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                """Every AWS call of the app would otherwise print a line."""

        if not _one_server_per_process.acquire(blocking=False):
            raise RuntimeError("an embedded AWS already runs in this process (moto's backends are process-global)")
        try:
            self._counter = _WriteCounter(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(host, port, self._counter, threaded=True, request_handler=QuietHandler)
        except SystemExit as busy:  # werkzeug exits the process when the port is taken; a library must not
            _one_server_per_process.release()
            raise OSError(f"cannot listen on {host}:{port}: the port is in use") from busy
        except BaseException:
            _one_server_per_process.release()
            raise
        self.host, self.port = host, int(self._server.server_address[1])
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)  # stop() returns promptly
        self._thread = threading.Thread(target=serve, name="moto", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def writes(self) -> int:
        return self._counter.count

    def stop(self) -> None:
        try:
            request(self.host, self.port, "POST", "/moto-api/reset")
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            _one_server_per_process.release()


def request(host: str, port: int, method: str, path: str, timeout: float = 5.0) -> int:
    """One request on a fresh connection; the HTTP status."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
