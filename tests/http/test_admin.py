"""Admin operations on clients (chalicelib.admin) and the Clients table (chalicelib.storage.clients), on moto."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import PynamoDBException

from chalicelib import admin, services
from chalicelib.config import settings
from chalicelib.oauth.clients import Client
from chalicelib.oauth.credentials import client_secret_matches
from chalicelib.storage import clients as client_storage
from chalicelib.storage.clients import ClientExists, DynamoClientRepository

WEB = {"client_name": "Web app", "redirect_uris": ["https://app.example.com/cb"], "scope": "openid profile"}
NATIVE = {"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"}

# `aws` (moto with every resource of infra/resources.yaml) and `aws_calls` come from conftest.py.


def call(operation: str, **params: Any) -> dict[str, Any]:
    return admin.handle({"operation": operation, "params": params})


def result(operation: str, **params: Any) -> Any:
    answer = call(operation, **params)
    assert "error" not in answer, answer
    return answer["result"]


def error(operation: str, **params: Any) -> tuple[str, str]:
    answer = call(operation, **params)
    assert set(answer) <= {"error", "error_description"}, answer
    return answer["error"], answer.get("error_description", "")


def pepper() -> bytes:
    return services.pepper().pepper()


def stored(client_id: str) -> Client:
    client = services.client_repository().find(client_id, fresh=True)
    assert client is not None
    return client


def raw_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=settings().clients_table)["Items"]


# --- clients.create -----------------------------------------------------------------------


def test_create_returns_registered_metadata_with_id_and_secret(aws):
    registered = result("clients.create", **WEB)
    assert re.fullmatch(r"[0-9a-f]{32}", registered["client_id"])  # 128 bits; never starts with "-"
    assert registered["client_secret_expires_at"] == 0
    assert registered["client_id_issued_at"] > 1_600_000_000
    assert registered["client_name"] == "Web app"
    assert registered["grant_types"] == ["authorization_code"]
    assert registered["response_types"] == ["code"]
    assert registered["token_endpoint_auth_method"] == "client_secret_basic"
    assert len(registered["client_secret"]) >= 43
    assert "client_secret_hash" not in registered


def test_client_ids_are_random(aws):
    ids = {result("clients.create", **WEB)["client_id"] for _ in range(5)}
    assert len(ids) == 5


def test_secret_is_stored_only_as_a_peppered_hash(aws):
    registered = result("clients.create", **WEB)
    secret = registered["client_secret"]
    client = stored(registered["client_id"])
    assert client.client_secret_hash != secret
    assert client_secret_matches(pepper(), secret, client.client_secret_hash)
    assert secret not in json.dumps(raw_items())


def test_secret_is_never_readable_again(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    shown = json.dumps([result("clients.get", client_id=client_id), result("clients.list")])
    assert 'client_secret"' not in shown and "client_secret_hash" not in shown


def test_public_client_gets_no_secret(aws):
    registered = result("clients.create", **NATIVE)
    assert "client_secret" not in registered
    assert stored(registered["client_id"]).client_secret_hash == ""


def test_invalid_metadata_registers_nothing(aws):
    assert error("clients.create", redirect_uris=["http://app.example.com/cb"])[0] == "invalid_redirect_uri"
    assert error("clients.create", **WEB, logo_uri="x") == (
        "invalid_client_metadata",
        "unknown client metadata field: logo_uri",
    )
    assert error("clients.create", **WEB, client_id="mine")[0] == "invalid_client_metadata"
    assert error("clients.create", **WEB, client_secret="mine")[0] == "invalid_client_metadata"
    assert raw_items() == []


def test_secrets_are_not_logged(aws, caplog):
    caplog.set_level(logging.DEBUG)
    registered = result("clients.create", **WEB)
    rotated = result("clients.rotate_secret", client_id=registered["client_id"])
    for secret in (registered["client_secret"], rotated["client_secret"]):
        assert secret not in caplog.text


# --- clients.get / list / delete --------------------------------------------------------------


def test_get_returns_what_create_registered(aws):
    registered = result("clients.create", **WEB)
    del registered["client_secret"]
    assert result("clients.get", client_id=registered["client_id"]) == registered


def test_get_unknown_client_is_not_found(aws):
    assert error("clients.get", client_id="nope")[0] == "not_found"


def test_list_shows_every_client(aws):
    ids = [result("clients.create", **m)["client_id"] for m in (WEB, NATIVE, WEB)]
    assert sorted(c["client_id"] for c in result("clients.list")) == sorted(ids)


def test_list_is_empty_without_clients(aws):
    assert result("clients.list") == []


def test_delete_removes_the_client(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    assert result("clients.delete", client_id=client_id) == {"client_id": client_id, "deleted": True}
    assert error("clients.get", client_id=client_id)[0] == "not_found"
    assert error("clients.delete", client_id=client_id)[0] == "not_found"


# --- clients.update (RFC 7592 §2.2 replacement) ------------------------------------------------


def test_update_replaces_metadata_and_keeps_identity_and_secret(aws):
    registered = result("clients.create", **WEB)
    client_id, secret = registered["client_id"], registered["client_secret"]
    updated = result("clients.update", client_id=client_id, redirect_uris=["https://new.example.com/cb"])
    assert "client_secret" not in updated
    assert updated["redirect_uris"] == ["https://new.example.com/cb"]
    assert updated["client_name"] == "" and updated["scope"] == ""  # omitted: back to defaults
    assert updated["client_id_issued_at"] == registered["client_id_issued_at"]
    assert client_secret_matches(pepper(), secret, stored(client_id).client_secret_hash)
    assert result("clients.get", client_id=client_id) == updated


def test_update_accepts_the_output_of_get(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    edited = {**result("clients.get", client_id=client_id), "client_name": "Renamed"}
    assert result("clients.update", **edited)["client_name"] == "Renamed"


def test_update_refuses_invalid_metadata_and_keeps_the_client(aws):
    registered = result("clients.create", **WEB)
    client_id = registered["client_id"]
    bad = {"redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]}
    assert error("clients.update", client_id=client_id, **bad)[0] == "invalid_client_metadata"
    assert error("clients.update", client_id=client_id, **WEB, client_secret="mine")[0] == "invalid_client_metadata"
    assert error("clients.update", client_id=client_id, **WEB, client_id_issued_at=1)[0] == "invalid_client_metadata"
    assert result("clients.get", client_id=client_id)["scope"] == "openid profile"


def test_update_unknown_client_is_not_found(aws):
    assert error("clients.update", client_id="nope", **WEB)[0] == "not_found"


def test_public_client_made_confidential_gets_a_new_secret(aws):
    client_id = result("clients.create", **NATIVE)["client_id"]
    updated = result("clients.update", client_id=client_id, **WEB)
    assert client_secret_matches(pepper(), updated["client_secret"], stored(client_id).client_secret_hash)


def test_confidential_client_made_public_loses_its_secret(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    assert "client_secret" not in result("clients.update", client_id=client_id, **NATIVE)
    assert stored(client_id).client_secret_hash == ""


# --- clients.rotate_secret ----------------------------------------------------------------------


def test_rotation_issues_a_new_secret_and_the_old_one_stops_matching(aws):
    registered = result("clients.create", **WEB)
    client_id, old = registered["client_id"], registered["client_secret"]
    rotated = result("clients.rotate_secret", client_id=client_id)
    new = rotated["client_secret"]
    assert new != old
    stored_hash = stored(client_id).client_secret_hash
    assert client_secret_matches(pepper(), new, stored_hash)
    assert not client_secret_matches(pepper(), old, stored_hash)
    assert {k: v for k, v in rotated.items() if k != "client_secret"} == result("clients.get", client_id=client_id)


def test_rotation_with_keep_old_for_keeps_the_old_hash_until_it_expires(aws):
    registered = result("clients.create", **WEB)
    client_id, old = registered["client_id"], registered["client_secret"]
    before = int(time.time())
    rotated = result("clients.rotate_secret", client_id=client_id, keep_old_for=3600)
    client = stored(client_id)
    assert client_secret_matches(pepper(), rotated["client_secret"], client.client_secret_hash)
    assert client_secret_matches(pepper(), old, client.previous_client_secret_hash)
    assert before + 3600 <= client.previous_client_secret_expires_at <= int(time.time()) + 3600
    # The operator learns when the old secret stops; no hash is ever shown.
    assert rotated["previous_client_secret_expires_at"] == client.previous_client_secret_expires_at
    shown = json.dumps([rotated, result("clients.get", client_id=client_id), result("clients.list")])
    assert "hash" not in shown and client.previous_client_secret_hash not in shown


def test_rotation_without_keep_old_for_forgets_any_previous_secret(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    result("clients.rotate_secret", client_id=client_id, keep_old_for=3600)
    rotated = result("clients.rotate_secret", client_id=client_id, keep_old_for=0)
    client = stored(client_id)
    assert (client.previous_client_secret_hash, client.previous_client_secret_expires_at) == ("", 0)
    assert "previous_client_secret_expires_at" not in rotated


@pytest.mark.parametrize("keep_old_for", [-1, 30 * 24 * 3600 + 1, "60", 1.5, True, None, [60]])
def test_keep_old_for_must_be_whole_seconds_up_to_30_days(aws, keep_old_for):
    registered = result("clients.create", **WEB)
    client_id = registered["client_id"]
    code, description = error("clients.rotate_secret", client_id=client_id, keep_old_for=keep_old_for)
    assert code == "invalid_request" and "whole number" in description
    assert client_secret_matches(pepper(), registered["client_secret"], stored(client_id).client_secret_hash)


def test_keep_old_for_accepts_30_days(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    result("clients.rotate_secret", client_id=client_id, keep_old_for=30 * 24 * 3600)


@pytest.mark.parametrize("field", ["previous_client_secret_hash", "previous_client_secret_expires_at"])
def test_previous_secret_fields_cannot_be_set_by_create_or_update(aws, field):
    assert error("clients.create", **WEB, **{field: 1})[0] == "invalid_client_metadata"
    client_id = result("clients.create", **WEB)["client_id"]
    assert error("clients.update", client_id=client_id, **WEB, **{field: 1})[0] == "invalid_client_metadata"


def test_update_keeps_a_running_grace_period(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    result("clients.rotate_secret", client_id=client_id, keep_old_for=3600)
    before = stored(client_id)
    result("clients.update", client_id=client_id, **{**WEB, "client_name": "Renamed"})
    after = stored(client_id)
    assert after.client_name == "Renamed"
    assert after.previous_client_secret_hash == before.previous_client_secret_hash
    assert after.previous_client_secret_expires_at == before.previous_client_secret_expires_at


def test_client_made_public_loses_its_previous_secret_too(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    result("clients.rotate_secret", client_id=client_id, keep_old_for=3600)
    result("clients.update", client_id=client_id, **NATIVE)
    client = stored(client_id)
    assert (client.client_secret_hash, client.previous_client_secret_hash) == ("", "")
    assert client.previous_client_secret_expires_at == 0


def test_public_client_has_no_secret_to_rotate(aws):
    client_id = result("clients.create", **NATIVE)["client_id"]
    assert error("clients.rotate_secret", client_id=client_id)[0] == "invalid_request"


def test_rotate_unknown_client_is_not_found(aws):
    assert error("clients.rotate_secret", client_id="nope")[0] == "not_found"


# --- the event format ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        None,
        "clients.list",
        [],
        {},
        {"operation": "clients.explode"},
        {"operation": 42},
        {"operation": "clients.list", "params": []},
        {"operation": "clients.get", "params": {}},
        {"operation": "clients.get", "params": {"client_id": 7}},
        {"operation": "clients.get", "params": {"client_id": ""}},
        {"operation": "clients.list", "params": {"client_id": "x"}},
        {"operation": "clients.create", "params": "not an object"},
        {"operation": "clients.update", "params": WEB},
    ],
)
def test_bad_events_answer_invalid_request_and_never_raise(aws, event):
    answer = admin.handle(event)
    assert answer["error"] == "invalid_request"
    assert answer["error_description"]


def test_unknown_operation_names_the_known_ones(aws):
    description = admin.handle({"operation": "users.fly", "params": {}})["error_description"]
    assert "users.fly" in description and "clients.create" in description


def test_params_may_be_omitted_when_there_are_none(aws):
    assert admin.handle({"operation": "clients.list"}) == {"result": []}


def test_admin_and_login_app_operations_are_two_disjoint_tables():
    from chalicelib import headless

    assert set(admin.OPERATIONS) == {
        "clients.create",
        "clients.get",
        "clients.list",
        "clients.update",
        "clients.delete",
        "clients.rotate_secret",
        "keys.rotate",
        "keys.list",
        "keys.revoke",
        "users.create",
        "users.disable",
        "users.enable",
        "users.sign_out",
        "consents.list",
        "consents.revoke",
    }
    assert set(headless.OPERATIONS) == {
        "login.get",
        "login.accept",
        "login.reject",
        "consent.get",
        "consent.accept",
        "consent.reject",
        "device.get",
        "device.accept",
        "device.reject",
    }


def test_aws_failures_are_raised_not_disguised_as_bad_input(aws, monkeypatch):
    monkeypatch.setenv("CLIENTS_TABLE", "tollgate-no-such-table")
    services.reset()
    with pytest.raises(PynamoDBException, match="ResourceNotFoundException"):
        admin.handle({"operation": "clients.list"})


# --- the repository and its container cache ---------------------------------------------------------


@pytest.fixture
def repository(aws) -> DynamoClientRepository:
    return DynamoClientRepository(settings().clients_table, cache_seconds=60)


CLIENT = Client(client_id="c1", redirect_uris=("https://a.example/cb",), audience=("api",), client_secret_hash="h")


def test_repository_round_trips_every_field(repository):
    client = Client(
        client_id="c1",
        client_name="Everything",
        client_uri="https://a.example",
        redirect_uris=("https://a.example/cb", "com.example.app:/cb"),
        post_logout_redirect_uris=("https://a.example/bye",),
        grant_types=("authorization_code", "refresh_token"),
        scope="openid profile",
        token_endpoint_auth_method="client_secret_post",
        audience=("https://api.example.com",),
        access_token_strategy="opaque",
        skip_consent=True,
        require_pkce=False,
        id_token_signed_response_alg="ES256",
        client_id_issued_at=1_700_000_000,
        client_secret_hash="hash",
        previous_client_secret_hash="old hash",
        previous_client_secret_expires_at=1_700_003_600,
    )
    repository.create(client)
    assert repository.find("c1", fresh=True) == client
    assert repository.list() == [client]


def test_create_never_overwrites(repository):
    repository.create(CLIENT)
    with pytest.raises(ClientExists):
        repository.create(Client(client_id="c1"))
    assert repository.find("c1", fresh=True) == CLIENT


def test_replace_never_resurrects(repository):
    with pytest.raises(KeyError):
        repository.replace(CLIENT)
    assert repository.find("c1", fresh=True) is None


def test_delete_tells_whether_there_was_a_client(repository):
    repository.create(CLIENT)
    assert repository.delete("c1") is True
    assert repository.delete("c1") is False


def test_constructing_the_repository_calls_no_aws(aws_calls, aws):
    DynamoClientRepository("anything", cache_seconds=60)
    assert aws_calls.count == 0


def test_warm_container_finds_a_cached_client_with_zero_aws_calls(aws_calls, repository):
    repository.create(CLIENT)
    assert repository.find("c1") == CLIENT
    calls_before = aws_calls.count
    assert repository.find("c1") == CLIENT
    assert aws_calls.count == calls_before
    assert "dynamodb.DescribeTable" not in aws_calls.calls


def test_admin_created_client_is_then_found_without_aws_calls(aws_calls, aws):
    client_id = result("clients.create", **WEB)["client_id"]
    repository = services.client_repository()
    repository.find(client_id)
    calls_before = aws_calls.count
    assert repository.find(client_id) is not None
    assert aws_calls.count == calls_before


def test_fresh_find_bypasses_and_refreshes_the_cache(aws_calls, repository):
    repository.create(CLIENT)
    repository.find("c1")
    boto3.client("dynamodb").delete_item(TableName=settings().clients_table, Key={"client_id": {"S": "c1"}})
    assert repository.find("c1") == CLIENT  # still trusted from the cache
    calls_before = aws_calls.count
    assert repository.find("c1", fresh=True) is None
    assert aws_calls.calls[calls_before:] == ["dynamodb.GetItem"]
    assert repository.find("c1") is None  # the cache forgot it


def test_a_client_created_by_this_container_is_found_at_once_after_a_miss(repository):
    assert repository.find("c1") is None
    repository.create(CLIENT)
    assert repository.find("c1") == CLIENT


def test_an_unknown_client_id_is_remembered_for_a_few_seconds_only(aws_calls, repository, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(client_storage, "monotonic", lambda: now[0])
    assert repository.find("c1") is None
    DynamoClientRepository(settings().clients_table, cache_seconds=60).create(CLIENT)  # another container
    calls_before = aws_calls.count
    assert repository.find("c1") is None  # the miss is remembered
    assert aws_calls.count == calls_before
    assert repository.find("c1", fresh=True) == CLIENT  # fresh never trusts a remembered miss
    repository.delete("c1")
    repository.find("c1")
    DynamoClientRepository(settings().clients_table, cache_seconds=60).create(CLIENT)
    now[0] += client_storage.MISS_SECONDS + 0.1
    assert repository.find("c1") == CLIENT


def test_remembered_misses_are_bounded(aws_calls, repository, monkeypatch):
    monkeypatch.setattr(client_storage, "MAX_MISSES", 3)
    for client_id in ("a", "b", "c", "d"):
        repository.find(client_id)
    calls_before = aws_calls.count
    repository.find("d")
    assert aws_calls.count == calls_before  # the newest miss is remembered
    repository.find("a")
    assert aws_calls.calls[calls_before:] == ["dynamodb.GetItem"]  # the oldest was dropped


def test_replace_and_delete_forget_the_cached_copy(repository):
    repository.create(CLIENT)
    repository.find("c1")
    renamed = Client(client_id="c1", client_name="Renamed", redirect_uris=CLIENT.redirect_uris)
    repository.replace(renamed)
    assert repository.find("c1") == renamed
    repository.delete("c1")
    assert repository.find("c1") is None


def test_rotation_is_seen_at_once_by_the_container_that_rotated(aws):
    client_id = result("clients.create", **WEB)["client_id"]
    before = services.client_repository().find(client_id)
    rotated = result("clients.rotate_secret", client_id=client_id)
    after = services.client_repository().find(client_id)
    assert before is not None and after is not None
    assert after.client_secret_hash != before.client_secret_hash
    assert client_secret_matches(pepper(), rotated["client_secret"], after.client_secret_hash)


def test_cached_client_expires_after_cache_seconds(aws_calls, repository, monkeypatch):
    repository.create(CLIENT)
    now = [1000.0]
    monkeypatch.setattr(client_storage, "monotonic", lambda: now[0])
    repository.find("c1")
    now[0] += 59
    calls_before = aws_calls.count
    repository.find("c1")
    assert aws_calls.count == calls_before
    now[0] += 2
    repository.find("c1")
    assert aws_calls.calls[calls_before:] == ["dynamodb.GetItem"]


def test_zero_cache_seconds_disables_the_cache(aws_calls, aws):
    repository = DynamoClientRepository(settings().clients_table, cache_seconds=0)
    repository.create(CLIENT)
    calls_before = aws_calls.count
    repository.find("c1")
    repository.find("c1")
    assert aws_calls.calls[calls_before:] == ["dynamodb.GetItem", "dynamodb.GetItem"]


def test_two_racing_rotations_never_issue_a_secret_that_does_not_work(aws):
    # Both read the client before either writes: a plain overwrite would lose one secret silently.
    registered = result("clients.create", **WEB)
    client_id = registered["client_id"]
    repository = services.client_repository()
    barrier = threading.Barrier(2)
    find = repository.find

    def find_then_wait(client_id: str, *, fresh: bool = False) -> Client | None:
        client = find(client_id, fresh=fresh)
        barrier.wait(timeout=10)
        return client

    answers: list[dict[str, Any]] = []

    def rotate() -> None:
        answers.append(call("clients.rotate_secret", client_id=client_id, keep_old_for=3600))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repository, "find", find_then_wait)
        threads = [threading.Thread(target=rotate) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    issued = [answer["result"]["client_secret"] for answer in answers if "result" in answer]
    refused = [answer for answer in answers if "error" in answer]
    assert len(issued) == 1 and len(refused) == 1
    assert refused[0]["error"] == "invalid_request" and "again" in refused[0]["error_description"]
    client = stored(client_id)
    assert client_secret_matches(pepper(), issued[0], client.client_secret_hash)
    assert client_secret_matches(pepper(), registered["client_secret"], client.previous_client_secret_hash)
