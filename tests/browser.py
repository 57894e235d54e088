"""Browser tests' harness: the real local stack once per module, and Debian's Chromium driven by Playwright.

``make test`` installs Debian's ``chromium`` with apt and the ``playwright``
package with pip; Playwright's own browser download (``playwright install``)
is never used, so the tests launch ``/usr/bin/chromium``.  Without it (or
without Playwright) browser tests are skipped with the reason, never failed.

Fixtures (imported into ``tests/e2e/conftest.py``):

- ``browser_stack`` (module): ``infra.local.local_stack`` on free ports with a
  fresh state directory, plus :class:`StackAdmin` to register clients and
  users in it;
- ``chromium`` (module): one headless Chromium;
- ``page`` (function): a fresh browser context (no cookies) and its page.

Clients and users are created through the admin operations in this process:
the stack's embedded AWS runs here too (``local_stack`` sets its endpoint in
``os.environ`` only while it starts, so :class:`StackAdmin` points the app's
settings at it for each call and puts everything back afterwards).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from infra.local import Stack, local_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass(frozen=True)
class StackAdmin:
    """Admin operations against one running local stack, as an operator's CLI would run them."""

    stack: Stack

    @contextmanager
    def _stack_environment(self) -> Iterator[None]:
        from chalicelib import services

        with mock.patch.dict(os.environ, {**self.stack.aws.env, "ISSUER_URL": self.stack.issuer, "STAGE": "local"}):
            services.reset()
            try:
                yield
            finally:
                services.reset()

    def call(self, operation: str, **params: Any) -> Any:
        from chalicelib import admin

        with self._stack_environment():
            answer = admin.handle({"operation": operation, "params": params})
        assert "result" in answer, answer
        return answer["result"]

    def register(self, **metadata: Any) -> dict[str, Any]:
        return self.call("clients.create", **metadata)

    def create_user(self, username: str, password: str, **fields: Any) -> dict[str, Any]:
        from chalicelib.oauth import users

        # Cheap hashes keep sign-ins fast: the cost travels in the hash, so the server verifies at this cost.
        with mock.patch.object(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1)):
            return self.call("users.create", username=username, password=password, **fields)


@dataclass(frozen=True)
class BrowserStack:
    stack: Stack
    admin: StackAdmin

    @property
    def issuer(self) -> str:
        return self.stack.issuer


@pytest.fixture(scope="module")
def browser_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserStack]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REFRESH_MIN_INTERVAL", "1")  # the stack inherits it: an app refreshes after a short wait
        with local_stack(0, 0, tmp_path_factory.mktemp("stack"), output=subprocess.DEVNULL) as stack:
            yield BrowserStack(stack, StackAdmin(stack))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        # In CI a missing browser is a failure: `make test` installs it, and a skipped browser test proves nothing.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{CHROMIUM} is missing: `make test` installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="`make test` installs playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    context.set_default_timeout(30_000)  # generous: chalice local is slow on a busy machine
    try:
        yield context.new_page()
    finally:
        context.close()
