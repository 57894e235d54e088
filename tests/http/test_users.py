"""Users: the Users table (unique usernames under races), admin and CLI (hashes, claims: tests/unit/)."""

from __future__ import annotations

import json
import threading

import pytest

from chalicelib import admin, cli, services
from chalicelib.oauth import users
from chalicelib.oauth.password_login import LockedOut, PasswordLogin, WrongCredentials
from chalicelib.oauth.users import ScryptCost, UsernameTaken, new_user, verify_password
from tests.unit.test_user_model import alice

CHEAP = ScryptCost(log2_n=10, r=8, p=1)


@pytest.fixture
def cheap(monkeypatch):
    monkeypatch.setattr(users, "COST", CHEAP)


# --- the Users table --------------------------------------------------------------------------


@pytest.fixture
def repository(aws):
    return services.users()


def test_create_then_find_by_username_and_by_sub(repository, cheap):
    user = new_user("alice", "long enough", email="alice@example.com", email_verified=True, name="Alice")
    repository.create(user)
    assert repository.find_by_username("alice") == user
    assert repository.get(user.user_id) == user
    assert repository.find_by_username("bob") is None and repository.get("nope") is None


def test_the_username_guard_is_neither_a_user_nor_in_the_index(repository, aws):
    repository.create(alice())
    assert repository.get("username#alice") is None
    assert repository.find_by_username("alice").user_id == "8c1f"


def test_a_taken_username_is_refused(repository):
    repository.create(alice())
    with pytest.raises(UsernameTaken):
        repository.create(alice(user_id="other"))
    assert repository.get("other") is None


def test_ten_racing_creates_of_one_username_leave_exactly_one_user(repository):
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def create(n: int) -> None:
        barrier.wait()
        try:
            repository.create(alice(user_id=f"user-{n}"))
            outcomes.append("created")
        except UsernameTaken:
            outcomes.append("taken")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["taken"] * 9
    assert sum(repository.get(f"user-{n}") is not None for n in range(10)) == 1


def test_find_by_username_is_one_query_and_get_one_read(repository, aws):
    repository.create(alice())
    aws.reset()
    repository.find_by_username("alice")
    assert aws.by_operation() == {"dynamodb.Query": 1}
    aws.reset()
    repository.get("8c1f")
    assert aws.by_operation() == {"dynamodb.GetItem": 1}


# --- admin operation and CLI --------------------------------------------------------------------


def test_admin_users_create_answers_the_user_without_password_or_hash(aws, cheap, caplog):
    params = {"username": "alice", "password": "s3cret-passw0rd", "email": "a@example.com", "name": "Alice"}
    with caplog.at_level("DEBUG"):
        answer = admin.handle({"operation": "users.create", "params": params})
    result = answer["result"]
    assert set(result) == {"user_id", "username", "email", "email_verified", "name", "disabled"}
    assert result["username"] == "alice" and result["email_verified"] is False
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith(("chalicelib", "tollgate")))
    assert "users.create" in ours  # the operation is logged, its params are not
    assert "s3cret-passw0rd" not in json.dumps(answer) + ours and "$scrypt$" not in ours
    stored = services.users().get(result["user_id"])
    assert verify_password("s3cret-passw0rd", stored.password_hash)


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"username": "alice"}, "password must be a string"),
        ({"username": "alice", "password": 12345678}, "password must be a string"),
        ({"username": "alice", "password": "long enough", "admin": True}, "unexpected parameter: admin"),
        ({"username": "alice", "password": "long enough", "email_verified": "yes"}, "email_verified must be a boolean"),
    ],
)
def test_admin_users_create_refuses_bad_params(aws, params, description):
    answer = admin.handle({"operation": "users.create", "params": params})
    assert answer == {"error": "invalid_request", "error_description": description}


def test_admin_users_create_refuses_a_taken_username(aws, cheap):
    params = {"username": "alice", "password": "long enough"}
    assert "result" in admin.handle({"operation": "users.create", "params": params})
    answer = admin.handle({"operation": "users.create", "params": params})
    assert answer == {"error": "invalid_request", "error_description": "the username 'alice' is taken"}


def test_cli_users_create_sends_one_admin_event_and_prints_the_user(capsys):
    events = []

    def invoke(event):
        events.append(event)
        return {"result": {"user_id": "u-1", "username": "alice"}}

    argv = ["users", "create", "--username", "alice", "--password", "pw-long-enough", "--email", "a@example.com"]
    assert cli.main([*argv, "--email-verified", "--name", "Alice"], invoke=invoke) == 0
    assert events == [
        {
            "operation": "users.create",
            "params": {
                "username": "alice",
                "password": "pw-long-enough",
                "email": "a@example.com",
                "name": "Alice",
                "email_verified": True,
            },
        }
    ]
    assert json.loads(capsys.readouterr().out) == {"user_id": "u-1", "username": "alice"}
    assert cli.main(["users", "create", "--username", "bob", "--password", "pw-long-enough"], invoke=invoke) == 0
    assert events[-1]["params"] == {"username": "bob", "password": "pw-long-enough"}


# --- the failure counter and the lockout ---------------------------------------------------------


@pytest.fixture
def store(memory_state, aws):
    """The counters in memory (the port's rules: tests/contract/); the Users table and the pepper on moto."""
    return memory_state


def test_guesses_spread_over_many_addresses_hit_the_per_username_ceiling(store, repository, cheap):
    repository.create(new_user("alice", "right password"))
    login = PasswordLogin(repository, store, services.pepper(), max_failures=5, max_delay=900, username_ceiling=3)
    for n in range(3):
        with pytest.raises(WrongCredentials):
            login.authenticate("alice", "wrong password", f"203.0.113.{n}")
    with pytest.raises(LockedOut) as locked:
        login.authenticate("alice", "right password", "198.51.100.1")
    assert locked.value.retry_after == 3600
    # The ceiling is per username: another username from the same addresses is still checked.
    with pytest.raises(WrongCredentials):
        login.authenticate("bob", "wrong password", "203.0.113.0")


def test_a_refused_attempt_does_not_count_against_the_per_username_ceiling(store, repository, cheap, frozen_clock):
    repository.create(new_user("alice", "right password"))
    login = PasswordLogin(repository, store, services.pepper(), max_failures=2, max_delay=900, username_ceiling=4)
    for _ in range(2):
        with pytest.raises(WrongCredentials):
            login.authenticate("alice", "wrong password", "203.0.113.66")
    for _ in range(10):  # one address hammering while it must wait
        with pytest.raises(LockedOut):
            login.authenticate("alice", "wrong password", "203.0.113.66")
    assert login.authenticate("alice", "right password", "198.51.100.1").username == "alice"


def test_a_crafted_username_cannot_count_against_another_users_address(store, repository, cheap):
    repository.create(new_user("alice", "right password"))
    login = PasswordLogin(repository, store, services.pepper(), max_failures=2, max_delay=900, username_ceiling=100)
    for n in range(10):  # the per-username key of this name must not be alice's (username, address) key
        with pytest.raises((WrongCredentials, LockedOut)):
            login.authenticate("alice\n198.51.100.1", "wrong password", f"203.0.113.{n}")
    with pytest.raises(WrongCredentials):  # alice's own first typo from her address is not delayed...
        login.authenticate("alice", "wrong password", "198.51.100.1")
    assert login.authenticate("alice", "right password", "198.51.100.1").username == "alice"  # ...nor her retry
