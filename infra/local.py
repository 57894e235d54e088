"""The embedded local AWS: moto in this process, shaped by ``infra/resources.yaml``.

DESIGN §9 and §10.  ``python -m infra.local`` (``make run``) starts moto on
``127.0.0.1:$AWS_PORT``, applies the template, restores ``.local/state.json``,
creates signing keys on the first start, serves ``chalice local`` on
``127.0.0.1:$PORT`` and saves the declared tables and secrets every few seconds
and on Ctrl-C / SIGTERM.

This module runs the processes and threads; moto's server lives in
:mod:`infra.moto_server`, the template in :mod:`infra.template` and the
state file in :mod:`infra.persistence`.  Their
public names are re-exported here, so ``from infra.local import ...`` keeps
working.  Tests reuse the same pieces: :func:`apply_template` (any boto3
endpoint, including ``moto.mock_aws()``), :func:`local_aws` (moto + template +
persistence) and :func:`local_stack` (all of it plus ``chalice local``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3

from infra.moto_server import MotoServer, request
from infra.persistence import STATE_FORMAT, _Persistence, restore_snapshot, take_snapshot
from infra.template import (
    ACCOUNT_ID,
    REGION,
    SETTINGS_FROM_OUTPUTS,
    TEMPLATE_PATH,
    AppliedTemplate,
    TemplateError,
    _apply,
    _Clients,
    apply_template,
    load_template,
)

__all__ = [
    "ACCOUNT_ID", "DEFAULT_AWS_PORT", "DEFAULT_PORT", "DEFAULT_STATE_DIR", "HOST", "REGION", "REPO_ROOT",
    "SETTINGS_FROM_OUTPUTS", "STATE_FILE_NAME", "STATE_FORMAT", "TEMPLATE_PATH", "AppliedTemplate", "LocalAws",
    "Stack", "TemplateError", "apply_template", "aws_environment", "free_port", "load_template", "local_aws",
    "local_stack", "main", "restore_snapshot", "take_snapshot",
]  # fmt: skip

log = logging.getLogger("tollgate.local")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local"
STATE_FILE_NAME = "state.json"
HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_AWS_PORT = 4566


# --------------------------------------------------------------------------- environment


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """Dummy credentials and the moto endpoint, for every AWS client of the local stack."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,  # a profile's endpoint or credentials must not leak in
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _overriding(name: str) -> bool:
    """Variables that would win over ours: a named profile or a per-service endpoint."""
    return name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") or name.startswith("AWS_ENDPOINT_URL_")


@contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` (and drop overriding variables) in os.environ; put back exactly what was there."""
    touched = {name for name in os.environ if _overriding(name)} | set(values)
    previous = {name: os.environ.get(name) for name in touched}
    for name in touched:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _fresh_app_clients() -> None:
    """chalicelib caches settings and boto3 clients: forget them when the endpoint changes."""
    from chalicelib import services

    services.reset()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (tests run in parallel)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------- stacks


@dataclass(frozen=True)
class LocalAws:
    """A running embedded AWS.

    ``env`` holds what any process needs to use it: ``AWS_ENDPOINT_URL``, dummy
    credentials, region, and the app settings naming the tables and secrets.
    """

    endpoint_url: str
    port: int
    env: dict[str, str]
    applied: AppliedTemplate
    state_file: Path
    _persistence: _Persistence = field(repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client bound to this embedded AWS."""
        return _session().client(service, endpoint_url=self.endpoint_url)

    def save(self) -> bool:
        """Save the state file now, if anything changed (the background saver does it every few seconds)."""
        return self._persistence.save()


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing", region_name=REGION
    )


@contextmanager
def local_aws(
    aws_port: int = DEFAULT_AWS_PORT,
    state_dir: Path | str = DEFAULT_STATE_DIR,
    *,
    save_interval: float = 2.0,
    parameters: Mapping[str, str] | None = None,
) -> Iterator[LocalAws]:
    """moto on ``127.0.0.1:aws_port`` (0: any free port) with the template applied and state restored.

    On entry: applies ``resources.yaml``, restores ``state_dir/state.json`` if
    present, fills the signing-key secret on the first start, and sets
    ``LocalAws.env`` in ``os.environ`` (restored on exit).  On exit: saves the
    state, then stops moto and resets its (process-global) backends.  One per
    process at a time; not inside ``moto.mock_aws()``.
    """
    server = MotoServer(HOST, aws_port)
    try:
        env = aws_environment(server.url)
        with _patched_environ(env):
            clients = _Clients.create(_session(), server.url)
            applied = _apply(load_template(), clients, parameters or {})
            env.update(applied.settings_env())
            with (
                _patched_environ(env),
                _persisted(server, clients, applied, env, Path(state_dir), save_interval) as aws,
            ):
                yield aws
    finally:
        server.stop()


@contextmanager
def _persisted(
    server: MotoServer, clients: _Clients, applied: AppliedTemplate, env: dict[str, str], state_dir: Path, every: float
) -> Iterator[LocalAws]:
    persistence = _Persistence(state_dir / STATE_FILE_NAME, clients, applied, server.writes)
    if persistence.restore():
        log.info("restored state from %s", persistence.path)
    _ensure_signing_keys()
    persistence.start(every)
    try:
        yield LocalAws(server.url, server.port, env, applied, persistence.path, persistence)
    finally:
        persistence.stop()
        _fresh_app_clients()


def _ensure_signing_keys() -> None:
    """First start: the template leaves the key secret empty; the app's own code fills it.

    ``KEY_MODE=kms`` creates KMS signing keys instead; moto's KMS keys are not
    saved in the state file, so in that mode keys are new on every start.
    """
    from chalicelib.keys.rotation import ensure_keys

    _fresh_app_clients()  # settings() now reads KEYS_SECRET_ID and KEY_MODE from the patched environment
    ensure_keys()


@dataclass(frozen=True)
class Stack:
    """A running local stack: the embedded AWS plus ``chalice local`` serving ``issuer``.

    ``env`` is the environment ``chalice local`` runs with; pass it to any child
    process (``python -m chalicelib.cli ...``) that should talk to this stack.
    """

    aws: LocalAws
    port: int
    issuer: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]


@contextmanager
def local_stack(
    port: int = DEFAULT_PORT,
    aws_port: int = DEFAULT_AWS_PORT,
    state_dir: Path | str = DEFAULT_STATE_DIR,
    *,
    save_interval: float = 2.0,
    startup_timeout: float = 60.0,
    output: IO[Any] | int | None = None,
) -> Iterator[Stack]:
    """Everything ``make run`` starts: :func:`local_aws`, then ``chalice local`` on ``127.0.0.1:port``.

    Returns once the server answers HTTP.  ``port=0`` / ``aws_port=0`` pick free
    ports.  The issuer is ``http://127.0.0.1:{port}``, so a test that restarts
    the stack and still verifies an old token must reuse the same ``port``
    (take one from :func:`free_port`) and the same ``state_dir``::

        port = free_port()
        with local_stack(port, 0, tmp_path) as stack:
            token = ...  # stack.issuer, stack.env for `python -m chalicelib.cli`
        with local_stack(port, 0, tmp_path) as stack:
            ...  # same clients, users, state items and signing keys

    On exit chalice is terminated, state saved and moto stopped.  ``output``
    receives chalice's stdout and stderr (default: inherited).
    """
    port = port or free_port()
    with local_aws(aws_port, state_dir, save_interval=save_interval) as aws:
        issuer = f"http://{HOST}:{port}"
        env = {**os.environ, **aws.env, "ISSUER_URL": issuer, "STAGE": "local", "PYTHONUNBUFFERED": "1"}
        process = _start_chalice(port, env, output)
        try:
            _wait_until_serving(port, process, startup_timeout)
            yield Stack(aws=aws, port=port, issuer=issuer, env=env, process=process)
        finally:
            _terminate(process)


def _chalice_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("chalice")
    launcher = [str(script)] if script.exists() else [sys.executable, "-c", "from chalice.cli import main; main()"]
    return [*launcher, "local", "--no-autoreload", "--host", HOST, "--port", str(port), "--stage", "local"]


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: chalice gets SIGTERM if we die (even kill -9), so it never holds the port afterwards."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def _start_chalice(port: int, env: dict[str, str], output: IO[Any] | int | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _chalice_command(port),
        cwd=REPO_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,  # Ctrl-C reaches us only; we stop chalice in order
        preexec_fn=_die_with_parent(),  # only a pre-resolved prctl call runs in the child: thread-safe enough
    )


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"chalice local exited with status {process.returncode} before serving")
        try:
            request(HOST, port, "GET", "/.well-known/openid-configuration", timeout=2.0)
            return  # any HTTP answer means it serves
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"chalice local did not answer on port {port} within {timeout:.0f} s") from None
            time.sleep(0.1)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- python -m infra.local

_FIRST_CLIENT = (
    '{"client_name":"billing","grant_types":["client_credentials"],'
    '"scope":"invoices:read invoices:write","audience":["https://api.example.com"]}'
)


def _banner(stack: Stack) -> str:
    cli_prefix = "" if stack.aws.port == DEFAULT_AWS_PORT else f"AWS_PORT={stack.aws.port} "
    return "\n".join(
        (
            "",
            f"Tollgate is running. Issuer: {stack.issuer}",
            f"Embedded AWS: {stack.aws.endpoint_url}  (state saved in {stack.aws.state_file})",
            "",
            "Register a first client:",
            f"  {cli_prefix}.venv/bin/python -m chalicelib.cli clients create --json '{_FIRST_CLIENT}'",
            "then get a token with the client_id and client_secret it prints:",
            "  curl -u ID:SECRET -d grant_type=client_credentials -d scope=invoices:read"
            f" -d audience=https://api.example.com {stack.issuer}/oauth2/token",
            "",
            "Ctrl-C stops it; state is kept for the next start.",
        )
    )


def main() -> int:
    """``make run``: serve until Ctrl-C or SIGTERM, then save and stop; 0 on a clean stop."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)  # our own news, without botocore's
    port = int(os.environ.get("PORT") or DEFAULT_PORT)
    aws_port = int(os.environ.get("AWS_PORT") or DEFAULT_AWS_PORT)
    state_dir = Path(os.environ.get("TOLLGATE_STATE_DIR") or DEFAULT_STATE_DIR)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with local_stack(port, aws_port, state_dir) as stack:
        print(_banner(stack), flush=True)
        while not stopping.wait(0.5):
            if stack.process.poll() is not None:
                log.error("chalice local exited with status %s", stack.process.returncode)
                return 1
    log.info("stopped; state saved in %s", state_dir / STATE_FILE_NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
