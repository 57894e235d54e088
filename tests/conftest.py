"""Shared fixtures: dummy AWS credentials, the embedded AWS in-process, an HTTP client, call counting,
Tollgate's clock frozen; and each layer's time at the end of a run."""

from __future__ import annotations

import base64
import collections
import copy
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ISSUER = "http://127.0.0.1:8000"
_STARTED = pytest.StashKey[float]()


def _share_botocore_loader() -> None:
    """botocore reads its JSON models and endpoint rules again for every new session, and each test's embedded
    AWS makes several (boto3 clients, PynamoDB): half of the ``aws`` fixture's time.  They never change during
    a run, so every session shares one loader.  Not imported for a run of tests/unit alone: that layer never
    loads an AWS SDK (tests/unit/conftest.py checks it)."""
    import botocore.loaders
    import botocore.session

    if not hasattr(botocore.session.create_loader, "cache_info"):
        botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(not item.nodeid.startswith("tests/unit/") for item in items):
        _share_botocore_loader()


LAYERS = ("unit", "contract", "http", "e2e")
"""tests/ mirrors the code: unit (the core alone: no moto, no Chalice), contract (both state stores),
http (the Chalice test client and admin code on moto), e2e (real processes: local stack, Chromium, CLIs)."""


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.monotonic()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Each layer's time: the sum of its tests' setup, call and teardown (over every xdist worker)."""
    seconds: collections.Counter[str] = collections.Counter()
    tests: collections.Counter[str] = collections.Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            parts = getattr(report, "nodeid", "").split("/")
            if getattr(report, "when", None) is None or len(parts) < 3 or parts[0] != "tests":
                continue
            seconds[parts[1]] += getattr(report, "duration", 0.0)
            tests[parts[1]] += report.when == "call"
    if not tests:
        return
    wall = time.monotonic() - config.stash.get(_STARTED, time.monotonic())
    rows = [f"{layer} {seconds[layer]:.1f} s ({tests[layer]} tests)" for layer in LAYERS if tests[layer]]
    terminalreporter.write_sep("-", f"layers: {', '.join(rows)}; wall {wall:.1f} s")


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in a test may reach real AWS: dummy credentials, no configured endpoint."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("ISSUER_URL", ISSUER)
    from chalicelib.config import container_setting

    container_setting.cache_clear()  # the stage and service name each test's logs and metrics carry


class AwsCalls:
    """Counts every AWS API call made by any botocore client created while installed."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def record(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    def reset(self) -> None:
        self.calls.clear()

    @property
    def count(self) -> int:
        return len(self.calls)

    def by_operation(self) -> collections.Counter[str]:
        return collections.Counter(self.calls)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Tollgate's clock (``chalicelib.clock``) stopped, and moved by hand: ``frozen_clock[0] += 10`` is ten
    seconds later for every expiry, lockout and ``iat`` Tollgate computes; moto, botocore and PyJWT keep real time."""
    from chalicelib import clock

    now = [clock.now()]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    return now


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """New password hashes at scrypt N=2**10, not 2**15 (0.5 s each): the cost travels in the hash, so
    sign-ins verify at it.  tests/unit/test_user_model.py checks the real cost."""
    from chalicelib.oauth import users

    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))


@pytest.fixture
def refresh_anytime(monkeypatch: pytest.MonkeyPatch) -> None:
    """``REFRESH_MIN_INTERVAL=0``: for tests of what a refresh issues, not how often (test_refresh_pace.py)."""
    from chalicelib import services

    monkeypatch.setenv("REFRESH_MIN_INTERVAL", "0")
    services.reset()


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    import botocore.session

    _share_botocore_loader()
    counter = AwsCalls()
    create_client = botocore.session.Session.create_client

    def counting_create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-call.*.*", counter.record)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", counting_create_client)
    return counter


@functools.lru_cache(maxsize=1)
def _session_keyset() -> dict[str, Any]:
    """One generated key set for the whole run: RSA generation would dominate each test's setup."""
    from chalicelib.keys.jwkset import initial_keyset

    return initial_keyset()


@pytest.fixture
def _linearizable_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make in-process moto apply one request at a time, as DynamoDB applies each item write atomically.

    moto takes no locks, so two racing conditional writes can both pass their
    condition; real DynamoDB never lets that happen.  Serialising moto's
    request handling restores DynamoDB's guarantee without touching our code:
    a read-then-write implementation still loses the race.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    process_request = BotocoreStubber.process_request

    def serialised(self: Any, request: Any) -> Any:
        with lock:
            return process_request(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", serialised)


@functools.lru_cache(maxsize=1)
def _not_copied() -> dict[int, Any]:
    """moto gives every KMS key an RSA-2048 private key, even a symmetric one that never signs (KMS refuses
    ``Sign`` on it): generating it was 0.1 s of each test's setup (resources.yaml's key).  Symmetric keys now
    share one; asymmetric keys, which KMS mode signs with, still get their own.  A key object cannot be
    deep-copied, so copies of moto's state keep this one (``copy.deepcopy``'s memo)."""
    from moto.kms import models

    generate = models.generate_private_key
    shared = generate("SYMMETRIC_DEFAULT")
    models.generate_private_key = lambda key_spec: shared if key_spec == "SYMMETRIC_DEFAULT" else generate(key_spec)
    return {id(shared): shared}


# Per region, account and key-set secret: moto's backends right after the template and the key set were applied.
_APPLIED: dict[tuple[str | None, ...], list[tuple[Any, str, str, Any]]] = {}


def _resources_applied(apply: Callable[[], Any]) -> None:
    """``apply`` (every resource of resources.yaml and the run's key set) in the ``mock_aws`` just started.

    Applying is some 25 API calls through botocore and moto: the first test of
    each worker does it and keeps a deep copy of moto's backends; the next ones
    start from a copy of that copy, so each still gets state of its own, exactly
    as applying would have left it (0.12 s -> 0.03 s).
    """
    from moto.core.base_backend import BackendDict

    from chalicelib.config import settings

    key = (os.environ.get("AWS_DEFAULT_REGION"), os.environ.get("MOTO_ACCOUNT_ID"), settings().keys_secret_id)
    saved = _APPLIED.get(key)
    if saved is None:
        apply()
        _APPLIED[key] = [
            (backends, account, region, copy.deepcopy(backend, dict(_not_copied())))
            for backends in BackendDict._instances
            for account, region, backend in backends.iter_backends()
        ]
        return
    for backends, account, region, backend in saved:
        dict.__setitem__(backends[account], region, copy.deepcopy(backend, dict(_not_copied())))


@functools.lru_cache(maxsize=1)
def _parsed_resources_yaml() -> dict[str, Any]:
    from infra import template

    return template.parse_template(template.TEMPLATE_PATH.read_text(encoding="utf-8"))


def _load_template_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """resources.yaml parsed once per run, not once per test; each test still applies its own copy."""
    from infra import template

    load = template.load_template

    def cached(path: Any = template.TEMPLATE_PATH) -> dict[str, Any]:
        return copy.deepcopy(_parsed_resources_yaml()) if path == template.TEMPLATE_PATH else load(path)

    monkeypatch.setattr(template, "load_template", cached)


@pytest.fixture
def aws(aws_calls: AwsCalls, _linearizable_moto: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsCalls]:
    """The embedded AWS in-process (moto), with every resource of infra/resources.yaml and a key set."""
    from moto import mock_aws

    from chalicelib import services
    from chalicelib.config import settings
    from chalicelib.keys.secrets_mode import write_keyset
    from infra.local import apply_template

    _load_template_parsed_once(monkeypatch)
    _not_copied()  # symmetric KMS keys share one RSA key from now on
    with mock_aws():
        services.reset()
        _resources_applied(lambda: (apply_template(), write_keyset(settings().keys_secret_id, _session_keyset())))
        aws_calls.reset()
        yield aws_calls
        services.reset()


@pytest.fixture
def memory_state() -> Iterator[Any]:
    """Every service built on the in-memory state store (tests/contract/ proves it keeps DynamoDB's rules)."""
    from chalicelib import services
    from chalicelib.storage.memory import MemoryStateStore

    store = MemoryStateStore()
    services.use_state_store(store)
    yield store
    services.use_state_store(None)


@pytest.fixture
def http(aws: AwsCalls) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as client:
        yield client.http


def admin_register(**metadata: Any) -> dict[str, Any]:
    """Register a client through the admin function, as an operator would; its registration (with the secret)."""
    from chalicelib.admin import handle

    answer = handle({"operation": "clients.create", "params": metadata})
    assert "result" in answer, answer
    return answer["result"]


@pytest.fixture
def register(aws: AwsCalls) -> Callable[..., dict[str, Any]]:
    return admin_register


def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
API = "https://api.example.com"  # the resource the test clients are registered for


@pytest.fixture
def tv(register):
    return register(
        client_name="Living room TV",
        grant_types=[DEVICE_GRANT, "refresh_token"],
        scope="openid offline_access profile",
        token_endpoint_auth_method="none",
    )


@pytest.fixture
def machine(register):
    return register(
        client_name="billing",
        grant_types=["client_credentials"],
        scope="invoices:read invoices:write",
        audience=[API, "https://other.example.com"],
    )


@pytest.fixture
def web_app(register):
    """A confidential code-flow client with refresh tokens and one API audience (modules may register their own)."""
    from tests.oauth_flow import REDIRECT_URI

    return register(
        client_name="Web app",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope="openid offline_access profile email",
        audience=[API],
    )
