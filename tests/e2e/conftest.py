"""End-to-end tests: real processes (the local stack over HTTP, Chromium, the chalice and CLI commands).

Each module starts its processes once (module-scoped fixtures), so under
``pytest -n 2 --dist loadgroup`` (``make test``) a module stays on one worker:
split over two, it would start everything twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The local stack once per module and Debian's Chromium (see tests/browser.py).
from tests.browser import browser_stack, chromium, page  # noqa: F401

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
