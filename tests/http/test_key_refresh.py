"""A key store that fails to answer never turns into a 500 (issue 11 item 4).

The store fails as AWS does (a ``ClientError`` from the API call, raised at
botocore's ``before-parameter-build`` event of the real client): a warm container keeps
signing and publishing with the keys it holds, a cold one answers 503, and a
KMS ``next`` key whose permission has not propagated yet is left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from chalicelib import aws as aws_clients
from chalicelib import services
from chalicelib.keys import cached, rotation
from tests.conftest import FORM, basic

Failing = Callable[..., Callable[[], None]]
Params = dict[str, Any]


@pytest.fixture
def failing_reads() -> Iterator[Failing]:
    """``fail(service, operation, code=..., when=...)``: matching calls fail from now on; it returns ``stop``."""
    undo: list[Callable[[], None]] = []

    def fail(
        service: str, operation: str, *, code: str = "ThrottlingException", when: Callable[[Params], bool] | None = None
    ) -> Callable[[], None]:
        def refuse(params: Params, **_: Any) -> None:
            if when is None or when(params):
                raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)

        events = aws_clients.client(service).meta.events
        event = f"before-parameter-build.{service}.{operation}"
        events.register(event, refuse)

        def stop() -> None:
            events.unregister(event, refuse)

        undo.append(stop)
        return stop

    yield fail
    for stop in undo:
        stop()


def signing_secret(params: Params) -> bool:
    return "signing" in params["SecretId"]


def next_key(params: Params) -> bool:
    return params["KeyId"].endswith("-next")


@pytest.fixture
def machine(register):
    return register(grant_types=["client_credentials"], scope="a")


def token(http, client: dict[str, Any]):
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    return http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))


def test_a_warm_container_keeps_signing_and_publishing_when_the_key_secret_cannot_be_read(
    http, machine, failing_reads, aws, capsys
):
    assert token(http, machine).status_code == 200  # warm: keys held
    published = json.loads(http.get("/.well-known/jwks.json").body)
    failing_reads("secretsmanager", "GetSecretValue", when=signing_secret)
    services.key_provider().forget()  # KEY_CACHE_SECONDS later
    capsys.readouterr()
    aws.reset()
    for _ in range(5):
        assert token(http, machine).status_code == 200
        assert json.loads(http.get("/.well-known/jwks.json").body) == published
    # The failed refresh is tried once, then not again for RETRY_SECONDS, and counted.
    assert aws.by_operation().get("secretsmanager.GetSecretValue", 0) <= 1
    assert '"KeyRefreshFailed"' in capsys.readouterr().out


def test_a_cold_container_that_cannot_read_its_keys_answers_503_not_500(http, machine, failing_reads):
    services.reset()  # a new container: no keys held yet
    failing_reads("secretsmanager", "GetSecretValue", when=signing_secret)
    answer = token(http, machine)
    assert (answer.status_code, json.loads(answer.body)["error"]) == (503, "temporarily_unavailable")
    jwks = http.get("/.well-known/jwks.json")
    assert (jwks.status_code, json.loads(jwks.body)["error"]) == (503, "temporarily_unavailable")


def test_the_keys_are_read_again_once_the_store_answers(http, machine, failing_reads, aws, monkeypatch):
    assert token(http, machine).status_code == 200
    stop = failing_reads("secretsmanager", "GetSecretValue", when=signing_secret)
    services.key_provider().forget()
    assert token(http, machine).status_code == 200  # the held keys
    stop()
    aws.reset()
    assert token(http, machine).status_code == 200
    assert "secretsmanager.GetSecretValue" not in aws.by_operation()  # not retried on every request...
    later = cached.time.monotonic() + cached.RETRY_SECONDS + 1
    monkeypatch.setattr(cached.time, "monotonic", lambda: later)
    assert token(http, machine).status_code == 200
    assert aws.by_operation()["secretsmanager.GetSecretValue"] == 1  # ...but RETRY_SECONDS later


def test_kms_mode_leaves_out_a_next_key_it_may_not_read_yet_and_keeps_signing(
    aws, http, machine, failing_reads, monkeypatch
):
    monkeypatch.setenv("KEY_MODE", "kms")
    monkeypatch.setenv("KMS_KEY_ALIAS_PREFIX", "alias/tollgate-test-signing")
    services.reset()
    rotation.ensure_keys()
    services.reset()  # a new container
    # A key created a moment ago: its tag-conditioned permission has not reached KMS yet.
    failing_reads("kms", "GetPublicKey", code="AccessDeniedException", when=next_key)
    assert token(http, machine).status_code == 200
    kids = {key["kid"] for key in json.loads(http.get("/.well-known/jwks.json").body)["keys"]}
    assert len(kids) == 2  # the RS256 and ES256 current keys; the next ones join on a later refresh
