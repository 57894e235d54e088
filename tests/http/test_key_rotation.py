"""Key rotation (secrets mode): the schedule, the admin operations, the CLI, and tokens across rotations."""

from __future__ import annotations

import io
import json
import logging
import time
from contextlib import redirect_stderr, redirect_stdout
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from chalicelib import admin, cli, services
from chalicelib.config import settings
from chalicelib.keys import rotation
from chalicelib.keys.schedule import shortest_interval
from chalicelib.keys.secrets_mode import SecretsManagerKeyProvider, read_keyset, write_keyset
from chalicelib.oauth.endpoints.jwks import JWKS_MAX_AGE
from tests.conftest import FORM, basic
from tests.oauth_flow import introspect

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


@pytest.fixture
def lambdas(aws):
    """The app's non-HTTP Lambda functions, invoked as the Lambda runtime would."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as client:
        yield client.lambda_


@pytest.fixture
def clock(monkeypatch):
    """Rotation's wall clock, moved by hand; it starts a whole pace after the test key set was made."""
    now = [int(time.time()) + pace() + 1]
    monkeypatch.setattr(rotation, "now", lambda: now[0])
    return now


def pace() -> int:
    """How long a key is published before it may sign: JWKS cache lifetime + KEY_CACHE_SECONDS."""
    return JWKS_MAX_AGE + settings().key_cache_seconds


def retention() -> int:
    """How long a retired key may still verify live tokens."""
    config = settings()
    return config.key_cache_seconds + max(config.access_token_ttl, config.id_token_ttl)


@pytest.fixture
def machine(register):
    return register(grant_types=["client_credentials"], scope="a", audience=["https://api.example.com"])


def issue(http, client: dict[str, Any]) -> str:
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    answer = http.post("/oauth2/token", headers=headers, body=urlencode({"grant_type": "client_credentials"}))
    assert answer.status_code == 200, answer.body
    return json.loads(answer.body)["access_token"]


def published(http) -> dict[str, dict[str, Any]]:
    return {key["kid"]: key for key in json.loads(http.get("/.well-known/jwks.json").body)["keys"]}


def verifies_with_published_key(http, token: str) -> bool:
    header = jwt.get_unverified_header(token)
    key = published(http).get(header["kid"])
    if key is None:
        return False
    jwt.decode(token, jwt.PyJWK(key).key, algorithms=[header["alg"]], audience="https://api.example.com")
    return True


def later() -> None:
    """KEY_CACHE_SECONDS have passed: every container has re-read the key set (here: a fresh container)."""
    services.reset()


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_rotating_twice_keeps_tokens_of_each_generation_verifiable(http, machine, clock):
    first = issue(http, machine)
    next_kid = next(k["kid"] for k in read_keyset(settings().keys_secret_id)["keys"] if k["status"] == "next")

    admin.handle({"operation": "keys.rotate"})
    later()
    clock[0] += retention() + 1  # the first generation's tokens have expired before the second rotation
    second = issue(http, machine)
    assert kid(second) == next_kid  # the key that signs now was published a whole period ahead
    assert verifies_with_published_key(http, first) and introspect(http, machine, first)["active"] is True
    assert verifies_with_published_key(http, second)
    upcoming = {k for k in published(http)} - {kid(first), kid(second)}

    admin.handle({"operation": "keys.rotate"})
    later()
    third = issue(http, machine)
    assert kid(third) in upcoming
    for token in (second, third):
        assert verifies_with_published_key(http, token) and introspect(http, machine, token)["active"] is True
    # Retired longer ago than a token lives (plus KEY_CACHE_SECONDS), the first key is gone.
    assert kid(first) not in published(http)
    assert len(published(http)) == 6  # next, current, previous for RS256 and ES256


def test_jwks_publishes_next_current_and_previous_of_each_algorithm(http, clock):
    admin.handle({"operation": "keys.rotate"})
    later()
    statuses = {(k["alg"], k["status"]) for k in read_keyset(settings().keys_secret_id)["keys"]}
    assert statuses == {(alg, s) for alg in ("RS256", "ES256") for s in ("next", "current", "previous")}
    assert set(published(http)) == {k["kid"] for k in read_keyset(settings().keys_secret_id)["keys"]}


def test_the_schedule_rotates_keys(aws, lambdas, clock):
    clock[0] += shortest_interval(settings().key_rotation_schedule)  # the schedule's next run: a period later
    before = {k["kid"]: k["status"] for k in read_keyset(settings().keys_secret_id)["keys"]}
    event = {
        "version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
        "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {},
    }  # fmt: skip
    answer = lambdas.invoke("rotate_keys", event).payload
    after = {k["kid"]: k["status"] for k in read_keyset(settings().keys_secret_id)["keys"]}
    assert {k["kid"]: k["status"] for k in answer["result"]} == after
    for kid_, status in before.items():
        assert after[kid_] == {"next": "current", "current": "previous"}[status]


def test_rotation_on_a_stage_without_keys_creates_the_first_set(aws):
    write_keyset(settings().keys_secret_id, {"keys": []})
    keys = admin.handle({"operation": "keys.rotate"})["result"]
    assert sorted((k["alg"], k["status"]) for k in keys) == [
        ("ES256", "current"), ("ES256", "next"), ("RS256", "current"), ("RS256", "next"),
    ]  # fmt: skip


def run_cli(*argv: str) -> tuple[int, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.main(["keys", *argv], invoke=admin.handle)
    return status, json.loads(out.getvalue() or "null")


def test_cli_lists_and_rotates_keys_without_private_material(aws, clock):
    status, listed = run_cli("list")
    assert status == 0 and len(listed) == 4
    assert all(set(key) == {"kid", "alg", "status", "created_at"} for key in listed)
    status, rotated = run_cli("rotate")
    assert status == 0 and len(rotated) == 6
    assert not any(member in key for key in rotated for member in PRIVATE_MEMBERS)


def test_key_operations_take_no_params(aws):
    assert admin.handle({"operation": "keys.list", "params": {"alg": "RS256"}})["error"] == "invalid_request"


def test_rotation_function_refuses_unknown_operations(aws):
    assert rotation.handle({"operation": "delete"})["error"] == "invalid_request"


class FakeLambda:
    """``lambda.invoke`` delivering the payload to the app's own rotate_keys function."""

    def __init__(self, lambdas: Any) -> None:
        self.lambdas = lambdas
        self.invoked: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, FunctionName: str, Payload: str) -> dict[str, Any]:
        event = json.loads(Payload)
        self.invoked.append((FunctionName, event))
        answer = self.lambdas.invoke("rotate_keys", event).payload
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


def test_deployed_admin_function_asks_the_rotation_function(aws, lambdas, monkeypatch, clock):
    import chalicelib.aws

    fake = FakeLambda(lambdas)
    real_client = chalicelib.aws.client
    monkeypatch.setattr(chalicelib.aws, "client", lambda service: fake if service == "lambda" else real_client(service))
    monkeypatch.setenv("STAGE", "prod")
    services.reset()
    rotated = admin.handle({"operation": "keys.rotate"})["result"]
    listed = admin.handle({"operation": "keys.list"})["result"]
    assert [name for name, _ in fake.invoked] == ["tollgate-prod-rotate_keys"] * 2
    assert [event["detail"] for _, event in fake.invoked] == [{"operation": "rotate"}, {"operation": "list"}]
    assert len(rotated) == 6 and listed == rotated


def test_two_racing_rotations_apply_once(aws, monkeypatch, clock):
    from chalicelib import aws as aws_clients

    secret_id = settings().keys_secret_id
    secrets = aws_clients.client("secretsmanager")
    stale = secrets.get_secret_value(SecretId=secret_id)  # both rotations read this version
    rotation.rotate()
    after_first = read_keyset(secret_id)
    with monkeypatch.context() as patched:
        patched.setattr(secrets, "get_secret_value", lambda **_: stale)
        rotation.rotate()
    assert read_keyset(secret_id) == after_first


# --------------------------------------------------------------------------- the pace and the emergency path


def keyset_kids() -> set[str]:
    return {k["kid"] for k in read_keyset(settings().keys_secret_id)["keys"]}


def test_rotation_refuses_a_next_key_younger_than_jwks_cache_lifetime_plus_key_cache(aws, clock):
    assert "result" in admin.handle({"operation": "keys.rotate"})
    before = read_keyset(settings().keys_secret_id)
    clock[0] += pace() - 1
    status, err = run_cli_err("rotate")
    assert status == cli.EXIT_ERROR
    assert "invalid_request" in err and "1 s from now" in err and "keys revoke KID" in err
    assert read_keyset(settings().keys_secret_id) == before
    clock[0] += 1
    assert "result" in admin.handle({"operation": "keys.rotate"})


def test_a_scheduled_rotation_too_soon_is_skipped_and_logged(aws, lambdas, clock, caplog):
    admin.handle({"operation": "keys.rotate"})
    before = read_keyset(settings().keys_secret_id)
    with caplog.at_level(logging.WARNING):
        answer = lambdas.invoke("rotate_keys", rotation.admin_event(rotation.ROTATE)).payload
    assert answer["error"] == "invalid_request" and "may sign from" in answer["error_description"]
    assert "rotation refused" in caplog.text
    assert read_keyset(settings().keys_secret_id) == before


def test_two_rotations_inside_a_token_lifetime_keep_the_key_that_signed_live_tokens(http, machine, clock):
    first = issue(http, machine)
    admin.handle({"operation": "keys.rotate"})
    clock[0] += pace()
    admin.handle({"operation": "keys.rotate"})
    later()
    assert verifies_with_published_key(http, first) and introspect(http, machine, first)["active"] is True
    assert len(published(http)) == 8  # next, current and two previous keys per algorithm
    clock[0] += retention()
    admin.handle({"operation": "keys.rotate"})
    later()
    assert kid(first) not in published(http)


def run_cli_err(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        status = cli.main(["keys", *argv], invoke=admin.handle)
    return status, err.getvalue()


def test_revoking_the_current_key_stops_its_tokens_at_once_and_next_signs(http, machine):
    token = issue(http, machine)
    assert introspect(http, machine, token)["active"] is True
    upcoming = next(k["kid"] for k in read_keyset(settings().keys_secret_id)["keys"] if k["status"] == "next"
                    and k["alg"] == "RS256")  # fmt: skip
    status, keys = run_cli("revoke", kid(token))
    assert status == 0 and kid(token) not in {k["kid"] for k in keys}
    assert kid(token) not in keyset_kids() and kid(token) not in published(http)
    assert introspect(http, machine, token) == {"active": False}  # this container forgot the key at once
    replacement = issue(http, machine)
    assert kid(replacement) == upcoming and verifies_with_published_key(http, replacement)
    assert {(k["alg"], k["status"]) for k in keys} == {(a, s) for a in ("RS256", "ES256") for s in ("next", "current")}


def test_a_revoked_key_stops_verifying_on_other_warm_containers_within_key_cache_seconds(aws, monkeypatch):
    import chalicelib.keys.cached as cached

    ticks = [0.0]
    monkeypatch.setattr(cached.time, "monotonic", lambda: ticks[0])
    other = SecretsManagerKeyProvider(settings().keys_secret_id, cache_seconds=settings().key_cache_seconds)
    revoked = other.signing_key("ES256").kid
    admin.handle({"operation": "keys.revoke", "params": {"kid": revoked}})
    assert other.verification_key(revoked) is not None  # warm, not yet re-read
    ticks[0] += settings().key_cache_seconds + 1
    assert other.verification_key(revoked) is None
    assert other.signing_key("ES256").kid != revoked


def test_revoking_an_unknown_kid_is_not_found(aws):
    status, err = run_cli_err("revoke", "no-such-kid")
    assert status == cli.EXIT_ERROR and err.startswith("error: not_found: ")
    for bad in ("", 7, "x" * 1000):
        answer = admin.handle({"operation": "keys.revoke", "params": {"kid": bad}})
        assert answer["error"] == "invalid_request"
    assert admin.handle({"operation": "keys.revoke"})["error"] == "invalid_request"


def test_a_revocation_racing_a_rotation_is_never_undone(aws, clock, monkeypatch):
    from chalicelib import aws as aws_clients

    secret_id = settings().keys_secret_id
    secrets = aws_clients.client("secretsmanager")
    victim = next(k["kid"] for k in read_keyset(secret_id)["keys"] if k["status"] == "current")
    stale = secrets.get_secret_value(SecretId=secret_id)  # both changes read this version
    rotation.rotate()
    reads = [stale]
    real_read = secrets.get_secret_value
    with monkeypatch.context() as patched:
        patched.setattr(secrets, "get_secret_value", lambda **kw: reads.pop() if reads else real_read(**kw))
        rotation.revoke(victim)  # loses the race once, then revokes from the rotated version
    kept = read_keyset(secret_id)["keys"]
    assert victim not in {k["kid"] for k in kept} and len(kept) == 5  # the rotation stands too


def test_deployed_revocation_is_carried_out_by_the_rotation_function(aws, lambdas, monkeypatch):
    import chalicelib.aws

    fake = FakeLambda(lambdas)
    real_client = chalicelib.aws.client
    monkeypatch.setattr(chalicelib.aws, "client", lambda service: fake if service == "lambda" else real_client(service))
    monkeypatch.setenv("STAGE", "prod")
    services.reset()
    victim = next(iter(keyset_kids()))
    assert "result" in admin.handle({"operation": "keys.revoke", "params": {"kid": victim}})
    assert admin.handle({"operation": "keys.revoke", "params": {"kid": victim}})["error"] == "not_found"
    assert [event["detail"] for _, event in fake.invoked] == [{"operation": "revoke", "kid": victim}] * 2
