"""tests/unit: the protocol core alone, on in-memory adapters (tests/unit/core.py); no moto, no Chalice.

A run of this layer alone must never load an AWS SDK, moto or Chalice: if a test (or the code it
reaches) did, the layer would be testing through the cloud again, and its speed would go with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import admin_register
from tests.unit.core import CoreHttp, use_memory_core

FORBIDDEN = ("boto3", "botocore", "moto", "chalice", "pynamodb")


def loaded_forbidden() -> list[str]:
    return sorted(name for name in sys.modules if name.partition(".")[0] in FORBIDDEN)


@pytest.fixture(scope="session", autouse=True)
def _no_cloud_sdk(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a run of tests/unit alone: nothing loaded moto, an AWS SDK or Chalice (other layers do, by design)."""
    yield
    if all(item.nodeid.startswith("tests/unit/") for item in request.session.items):
        assert not loaded_forbidden(), f"tests/unit loaded {loaded_forbidden()[:5]}"


@pytest.fixture
def core() -> Iterator[Any]:
    """Every service on in-memory adapters: the state store is handed back to look at what was stored."""
    from chalicelib import services
    from tests.conftest import _session_keyset

    store = use_memory_core(_session_keyset())
    yield store
    services.use_adapters()


@pytest.fixture
def http(core: Any) -> CoreHttp:
    """The core's endpoints behind Chalice's test-client interface (``http.post(path, headers=, body=)``)."""
    return CoreHttp()


@pytest.fixture
def register(core: Any) -> Callable[..., dict[str, Any]]:
    """Register a client through the admin function, as an operator would (into the in-memory clients)."""
    return admin_register
