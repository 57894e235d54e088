"""oidc-provider's side: installed with npm on first use, pinned to one core, driven over keep-alive HTTP.

The pinned versions are ``package.json`` and ``package-lock.json`` beside
this file; ``npm ci`` installs exactly them into ``.local/compare/`` (git
ignores ``.local/``) whenever the copy there differs.  The driver is this
process, moved to another core while it drives, so its own CPU (building
requests, reading answers, checking every token) never counts: only the node
process's CPU time from ``/proc/<pid>/stat`` does.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.compare.figures import per_token_us, process_cpu_seconds, token_problem

HERE = Path(__file__).resolve().parent
INSTALL_DIR = HERE.parent.parent / ".local" / "compare"
PINNED = ("package.json", "package-lock.json")
SERVER = "server.mjs"
START_SECONDS = 20.0


class NodeUnavailable(RuntimeError):
    """node or npm is missing or the install failed: the side-by-side cannot run here."""


@dataclass(frozen=True)
class TokenRequest:
    """The one request both sides answer: the same form body and Basic credentials."""

    client_id: str
    client_secret: str
    scope: str
    audience: str

    @property
    def body(self) -> str:
        return urlencode({"grant_type": "client_credentials", "scope": self.scope, "resource": self.audience})

    @property
    def authorization(self) -> str:
        """RFC 6749 §2.3.1 (the bench's ids and secrets are URL-safe: nothing to form-encode)."""
        return "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()


def tool(name: str) -> str:
    """The absolute path of ``name`` on PATH (node, npm, taskset)."""
    found = shutil.which(name)
    if found is None:
        raise NodeUnavailable(f"`{name}` is not on PATH")
    return found


def install(target: Path = INSTALL_DIR) -> Path:
    """``npm ci`` of the committed lock into ``target``, unless that exact lock is installed already."""
    npm = tool("npm")
    target.mkdir(parents=True, exist_ok=True)
    current = all(
        (target / name).exists() and (target / name).read_bytes() == (HERE / name).read_bytes() for name in PINNED
    )
    if not current or not (target / "node_modules" / "oidc-provider").is_dir():
        for name in PINNED:
            shutil.copyfile(HERE / name, target / name)
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise NodeUnavailable(f"npm ci failed: {done.stderr.strip()[-400:]}")
    shutil.copyfile(HERE / SERVER, target / SERVER)  # node resolves oidc-provider from beside the script
    return target


def version(target: Path = INSTALL_DIR) -> str:
    manifest = target / "node_modules" / "oidc-provider" / "package.json"
    return str(json.loads(manifest.read_text())["version"])


def node_version() -> str:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [tool("node"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)


@contextmanager
def server(alg: str, request: TokenRequest, core: int, target: Path = INSTALL_DIR) -> Iterator[Server]:
    """oidc-provider for ``alg``, pinned to ``core`` with taskset, until the block ends."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "NODE_ENV": "production",
        "ALG": alg,
        "CLIENT_ID": request.client_id,
        "CLIENT_SECRET": request.client_secret,
        "AUDIENCE": request.audience,
        "SCOPE": request.scope,
    }
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [tool("taskset"), "-c", str(core), tool("node"), SERVER],
        cwd=target,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its start-up warnings (in-memory adapter, node 20)
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until it listens, or it exits
        if not line:
            raise NodeUnavailable(f"oidc-provider did not start (exit {process.wait(START_SECONDS)})")
        yield Server(process, int(json.loads(line)["port"]))
    finally:
        process.terminate()
        process.wait(START_SECONDS)


class Driver:
    """One keep-alive HTTP/1.1 connection sending the token request, checking every answer."""

    def __init__(self, port: int, request: TokenRequest, alg: str) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._request = request
        self._alg = alg
        self._headers = {
            "Authorization": request.authorization,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        self._body = request.body.encode()

    def send(self, tokens: int) -> None:
        """``tokens`` requests back to back; raises on the first answer that is not the expected JWT."""
        for _ in range(tokens):
            self._connection.request("POST", "/token", body=self._body, headers=self._headers)
            response = self._connection.getresponse()
            body = response.read()
            problem = token_problem(
                response.status, body, alg=self._alg, audience=self._request.audience, scope=self._request.scope
            )
            if problem:
                raise RuntimeError(f"oidc-provider {self._alg}: {problem}")

    def close(self) -> None:
        self._connection.close()


class Load:
    """``connections`` keep-alive connections sending at once, each from a thread pinned to the driver core.

    Several requests in flight is oidc-provider's best case, as a server
    under load runs: node reads more than one request per wake-up.
    (Tollgate in Lambda answers one request per invocation.)
    """

    def __init__(self, port: int, request: TokenRequest, alg: str, connections: int, driver_core: int) -> None:
        self._drivers = [Driver(port, request, alg) for _ in range(connections)]
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="compare-driver")
        self._core = driver_core

    def _send(self, driver: Driver, tokens: int) -> None:
        os.sched_setaffinity(0, {self._core})  # this thread only: its CPU must not land on the server's core
        driver.send(tokens)

    def send(self, tokens: int) -> None:
        shares = [
            tokens // len(self._drivers) + (index < tokens % len(self._drivers)) for index in range(len(self._drivers))
        ]
        for done in [
            self._pool.submit(self._send, driver, share) for driver, share in zip(self._drivers, shares, strict=True)
        ]:
            done.result()

    def close(self) -> None:
        self._pool.shutdown()
        for driver in self._drivers:
            driver.close()


def measure_round(server: Server, load: Load, tokens: int) -> float:
    """CPU microseconds per token the node process spent answering ``tokens`` requests."""
    start = server.cpu_seconds()
    load.send(tokens)
    time.sleep(0.05)  # work node defers past the last answer (garbage collection) counts too
    return per_token_us(server.cpu_seconds() - start, tokens)
