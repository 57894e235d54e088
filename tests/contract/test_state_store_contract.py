"""One contract for every ``StateStore`` adapter: DynamoDB (PynamoDB on moto) and memory obey the same rules.

DESIGN §7: expiry checked on every read and an expired item treated as absent
by every conditional write; single use by a conditional write (``consumed_at``
must not exist); counters and transactions that racing requests cannot split.
Each test runs once per adapter, so a protocol test that passes on the memory
adapter passes on DynamoDB.  What only DynamoDB has (call counts, index
projections written, item sizes) stays in tests/http/test_state_store.py.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.oauth.ports import AlreadyConsumed, StateItem, StateStore, TooEarly, Unless
from chalicelib.storage.memory import MemoryStateStore


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> StateStore:
    if request.param == "memory":
        return MemoryStateStore()
    request.getfixturevalue("aws")
    from chalicelib import services

    return services.state_store()


def item(id="h1", *, kind="code", ttl=60, payload=None, **fields: Any) -> StateItem:
    return StateItem(kind, id, payload or {"x": 1}, int(time.time()) + ttl, **fields)


def rounds(store: StateStore) -> list[str]:
    """Keys for repeated races: one round on moto (slow, and serialised like DynamoDB), twenty in memory.

    A thread switch inside a lock-free read-then-write is likely but not certain
    in one round; in twenty it is, so an adapter without its lock fails every run.
    """
    return [f"r{n}" for n in range(20 if isinstance(store, MemoryStateStore) else 1)]


def race(times: int, action: Callable[[], Any]) -> list[Any]:
    """``action`` from ``times`` threads released together; what each returned (or the exception's class).

    Threads switch every microsecond meanwhile (Python's default is 5 ms), so a
    read-then-write adapter without a lock would lose the race here, not only in production.
    """
    barrier = threading.Barrier(times)
    outcomes: list[Any] = []

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(action())
        except Exception as exc:
            outcomes.append(type(exc))

    threads = [threading.Thread(target=run) for _ in range(times)]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch_interval)
    return outcomes


# --------------------------------------------------------------------------- upsert, find, destroy


def test_upsert_then_find_round_trips_every_attribute(store):
    stored = item(payload={"scope": "a b", "n": 3}, grant_id="g", user_code="BCDF", subject="ada", not_before=5)
    store.upsert(stored)
    assert store.find("code", "h1") == stored


def test_upsert_replaces_the_whole_item_even_a_consumed_one(store):
    store.upsert(item(grant_id="g"))
    store.consume("code", "h1")
    store.upsert(item(payload={"y": 2}))
    found = store.find("code", "h1")
    assert (found.payload, found.consumed_at, found.grant_id, found.counter) == ({"y": 2}, None, None, 0)


def test_a_stored_payload_is_never_shared_with_the_caller(store):
    payload = {"list": [1]}
    store.upsert(item(payload=payload))
    payload["list"].append(2)
    store.find("code", "h1").payload["list"].append(3)
    assert store.find("code", "h1").payload == {"list": [1]}


def test_expired_items_are_absent_to_every_read_and_every_conditional_write(store):
    store.upsert(item(ttl=-1, user_code="BCDFGHJK", subject="ada"))
    assert store.find("code", "h1") is None
    assert store.find_many([("code", "h1")]) == []
    assert store.find_by_user_code("BCDFGHJK") is None
    assert store.find_by_subject("ada") == []
    with pytest.raises(KeyError):
        store.consume("code", "h1")
    assert not store.increment("code", "h1").usable(time.time())
    assert (
        store.swap(item(), replace(item(), payload={"status": "approved"}, expires_at=item().expires_at + 600)) is False
    )
    assert store.find("code", "h1") is None  # nothing above brought it back
    assert store.find("code", "h1", even_consumed=True) is None


def test_find_even_consumed_returns_a_live_consumed_item_as_it_is(store):
    store.upsert(item("used"))
    store.consume("code", "used")
    assert store.find("code", "used") is None
    assert store.find("code", "used", even_consumed=True).consumed_at is not None
    assert store.find("code", "live", even_consumed=True) is None
    store.upsert(item("live"))
    assert store.find("code", "live", even_consumed=True).consumed_at is None


def test_destroy_is_idempotent(store):
    store.upsert(item())
    store.destroy("code", "h1")
    store.destroy("code", "h1")
    store.destroy("code", "never")
    assert store.find("code", "h1") is None


def test_find_many_returns_the_live_unconsumed_items_only(store):
    store.upsert(item("live"))
    store.upsert(item("old", ttl=-1))
    store.upsert(item("used"))
    store.consume("code", "used")
    keys = [("code", "live"), ("code", "old"), ("code", "used"), ("code", "never"), ("session", "live")]
    assert [found.id for found in store.find_many(keys)] == ["live"]
    assert [found.id for found in store.find_many([("code", "live"), ("code", "live")])] == ["live"]
    assert store.find_many([]) == []


def test_a_key_over_dynamodbs_2048_bytes_is_refused_as_invalid_request_and_nothing_is_written(store):
    from chalicelib.storage.errors import oversized_key

    fits, too_long = "x" * (2048 - len("code#")), "x" * (2049 - len("code#"))
    store.upsert(item(fits))
    assert store.find("code", fits) is not None
    writes = (
        lambda: store.upsert(item(too_long)),
        lambda: store.insert_all([item("small"), item(too_long)]),
        lambda: store.increment("code", too_long, create_until=int(time.time()) + 60),
    )
    for write in writes:
        with pytest.raises(Exception) as refused:  # what matters is how the web layer reads it
            write()
        assert oversized_key(refused.value) is not None
    assert store.find_many([("code", "small"), ("code", too_long)]) == []


# --------------------------------------------------------------------------- single use


def test_consume_succeeds_once_then_reports_replay_with_the_item(store):
    store.upsert(item(grant_id="g1"))
    consumed = store.consume("code", "h1")
    assert consumed.payload == {"x": 1} and consumed.consumed_at is not None
    with pytest.raises(AlreadyConsumed) as replay:
        store.consume("code", "h1")
    assert replay.value.item.grant_id == "g1" and replay.value.item.consumed_at == consumed.consumed_at
    assert store.find("code", "h1") is None


def test_consume_of_an_unknown_item_is_a_key_error(store):
    with pytest.raises(KeyError):
        store.consume("code", "nope")


def test_consume_waits_for_not_before_and_a_refusal_changes_nothing(store):
    now = int(time.time())
    store.upsert(item("early", not_before=now + 30))
    store.upsert(item("due", not_before=now))
    with pytest.raises(TooEarly) as early:
        store.consume("code", "early")
    assert early.value.item.not_before == now + 30
    assert store.find("code", "early") is not None  # still usable once its time comes
    assert store.consume("code", "due").id == "due"


def test_consume_wins_exactly_once_among_ten_racing_threads(store):
    for key in rounds(store):
        store.upsert(item(key))
        outcomes = race(10, lambda: store.consume("code", key).id)  # noqa: B023 - joined before the next round
        assert sorted(outcomes, key=str) == [AlreadyConsumed] * 9 + [key]


def test_swap_undoes_only_the_consume_it_read(store):
    store.upsert(item())
    store.increment("code", "h1")  # an attempt counted on it before the take
    consumed = store.consume("code", "h1")
    reopened = replace(consumed, consumed_at=None)
    assert store.swap(replace(consumed, consumed_at=consumed.consumed_at + 1), reopened) is False
    assert store.swap(consumed, reopened) is True
    assert store.find("code", "h1").counter == 1  # reopened in place: the attempt stays counted
    assert store.swap(consumed, reopened) is False  # nothing to undo any more
    assert store.swap(replace(consumed, id="never"), replace(reopened, id="never")) is False
    assert store.find("code", "never", even_consumed=True) is None
    store.consume("code", "h1")


def test_swap_moves_a_live_items_expiry_and_never_revives_one(store):
    later = int(time.time()) + 600
    store.upsert(item("live"))
    live = store.find("code", "live")
    assert store.swap(live, replace(live, expires_at=later)) is True
    assert store.find("code", "live").expires_at == later
    store.upsert(item("used"))
    used = store.find("code", "used")
    store.consume("code", "used")
    assert store.swap(used, replace(used, expires_at=later)) is False
    assert store.swap(item("never"), item("never", ttl=600)) is False
    assert store.find("code", "never") is None


def test_swap_of_another_key_is_refused(store):
    store.upsert(item("a"))
    with pytest.raises(ValueError):
        store.swap(store.find("code", "a"), item("b"))


# --------------------------------------------------------------------------- grants, user codes, subjects


def test_revoke_by_grant_removes_everything_of_that_grant_only(store):
    store.upsert(item("a", grant_id="g1"))
    store.upsert(item("b", kind="refresh_token", grant_id="g1"))
    store.upsert(item("used", grant_id="g1"))
    store.consume("code", "used")
    store.upsert(item("c", grant_id="g2"))
    assert store.revoke_by_grant("g1") == 3
    assert store.find("code", "a") is None and store.find("refresh_token", "b") is None
    assert store.insert_all([item("used")])  # the consumed one went too: its key is free
    assert store.find("code", "c") is not None
    assert store.revoke_by_grant("g1") == 0


def test_find_by_user_code_finds_a_live_unconsumed_item_with_what_its_index_projects(store):
    store.upsert(item("d1", kind="device_code", user_code="BCDFGHJK", grant_id="g", subject="ada"))
    store.increment("device_code", "d1")
    found = store.find_by_user_code("BCDFGHJK")
    assert (found.kind, found.id, found.payload, found.user_code) == ("device_code", "d1", {"x": 1}, "BCDFGHJK")
    # Only kind, payload and expiry are projected into the index: nothing else may be relied on.
    assert (found.grant_id, found.subject, found.counter) == (None, None, 0)
    assert store.find_by_user_code("ZZZZZZZZ") is None
    store.consume("device_code", "d1")
    assert store.find_by_user_code("BCDFGHJK") is None


def test_find_by_subject_finds_a_persons_live_items_only(store):
    now = int(time.time())
    store.upsert(StateItem("session", "s1", {}, now + 60, subject="ada"))
    store.upsert(StateItem("consent", "c1", {"client_id": "app"}, now + 60, subject="ada"))
    store.upsert(StateItem("session", "s2", {}, now - 1, subject="ada"))  # expired
    store.upsert(StateItem("session", "s4", {}, now + 60, subject="ada"))
    store.consume("session", "s4")  # consumed
    store.upsert(StateItem("session", "s3", {}, now + 60, subject="bob"))
    store.upsert(item("code-without-subject"))
    found = sorted((found.kind, found.id, found.subject) for found in store.find_by_subject("ada"))
    assert found == [("consent", "c1", "ada"), ("session", "s1", "ada")]
    assert store.find_by_subject("nobody") == []


# --------------------------------------------------------------------------- transactions


def test_insert_all_is_all_or_nothing_and_refuses_live_keys(store):
    assert store.insert_all([item("a"), item("b", kind="user_code")])
    assert not store.insert_all([item("c"), item("b", kind="user_code")])
    assert store.find("code", "c") is None
    store.upsert(item("old", ttl=-1))
    assert store.insert_all([item("old")])  # an expired item counts as absent
    store.consume("code", "old")
    assert not store.insert_all([item("old")])  # a consumed one is still live: its key stays taken


def test_insert_all_unless_stores_nothing_while_the_named_item_is_live(store):
    store.upsert(item("marker", kind="revoked_grant"))
    assert not store.insert_all([item("t1"), item("t2")], unless=[Unless("revoked_grant", "marker")])
    assert store.find("code", "t1") is None and store.find("code", "t2") is None
    store.upsert(item("gone", kind="revoked_grant", ttl=-1))  # expired: counts as absent
    assert store.insert_all([item("t1")], unless=[Unless("revoked_grant", "gone"), Unless("revoked_grant", "never")])
    assert store.find("code", "t1") is not None


def test_insert_all_unless_with_since_refuses_only_what_a_live_marker_dates_before_it(store):
    now = int(time.time())
    store.upsert(StateItem("signed_out", "ada", {}, now + 60, not_before=now - 10))
    assert not store.insert_all([item("before")], unless=[Unless("signed_out", "ada", now - 10)])
    assert store.find("code", "before") is None
    assert store.insert_all([item("after")], unless=[Unless("signed_out", "ada", now - 9), Unless("signed_out", "bob")])
    assert not store.insert_all([item("zero")], unless=[Unless("signed_out", "ada")])  # since 0: any live one
    store.upsert(StateItem("signed_out", "ada", {}, now - 1, not_before=now))  # expired: counts as absent
    assert store.insert_all([item("late")], unless=[Unless("signed_out", "ada")])


def test_insert_all_unless_with_since_is_refused_by_a_live_item_without_not_before(store):
    store.upsert(StateItem("signed_out", "ada", {}, int(time.time()) + 60))
    assert not store.insert_all([item("t")], unless=[Unless("signed_out", "ada", int(time.time()))])


def test_insert_all_naming_one_key_twice_fails_and_stores_nothing(store):
    with pytest.raises(Exception):  # noqa: B017 - DynamoDB's ValidationException, the memory adapter's ValueError
        store.insert_all([item("a"), item("b"), item("a")])
    with pytest.raises(Exception):  # noqa: B017
        store.insert_all([item("c")], unless=[Unless("code", "c")])
    assert store.find_many([("code", "a"), ("code", "b"), ("code", "c")]) == []


def test_insert_all_of_one_key_wins_exactly_once_among_ten_racing_threads(store):
    for key in rounds(store):
        outcomes = race(10, lambda: store.insert_all([item(key, payload={"n": threading.get_ident()})]))  # noqa: B023
        assert sorted(outcomes) == [False] * 9 + [True]


def test_insert_all_closing_marks_a_key_consumed_once_creating_it_if_absent(store):
    until = int(time.time()) + 60
    assert store.increment("sealed", "s1", create_until=until).counter == 0  # a count on it stays
    assert store.insert_all([item("v1")], closing=[("sealed", "s1", until), ("sealed", "s2", until)])
    closed = store.find("sealed", "s1", even_consumed=True)
    assert closed.consumed_at is not None and closed.counter == 1 and closed.expires_at == until
    created = store.find("sealed", "s2", even_consumed=True)
    assert created.consumed_at is not None and (created.payload, created.expires_at) == ({}, until)
    assert store.find("sealed", "s1") is None and store.find("code", "v1") is not None
    assert not store.insert_all([item("v2")], closing=[("sealed", "s1", until)])  # closed already
    assert store.find("code", "v2") is None
    store.upsert(StateItem("sealed", "old", {}, until - 120, consumed_at=1))  # expired: counts as absent
    assert store.insert_all([item("v3")], closing=[("sealed", "old", until)])


def test_insert_all_closing_one_key_wins_exactly_once_among_ten_racing_threads(store):
    until = int(time.time()) + 60
    for key in rounds(store):
        outcomes = race(
            10,
            lambda: store.insert_all([item(f"{key}-{threading.get_ident()}")], closing=[("sealed", key, until)]),  # noqa: B023
        )
        assert sorted(outcomes) == [False] * 9 + [True]


# --------------------------------------------------------------------------- counting


def test_increment_counts_stamps_and_returns_the_item_as_it_was(store):
    store.upsert(item("d"))
    now = int(time.time())
    first = store.increment("code", "d", at=now)
    assert first is not None and first.counted_at is None and first.counter == 0
    second = store.increment("code", "d", at=now + 5)
    assert (second.counted_at, second.first_counted_at, second.counter) == (now, now, 1)
    third = store.increment("code", "d", at=now + 7)
    assert (third.counted_at, third.first_counted_at, third.counter) == (now + 5, now, 2)
    assert store.increment("code", "missing", at=now) is None


def test_increment_of_an_expired_or_consumed_item_returns_it_unchanged_in_the_same_call(store):
    store.upsert(item("old", ttl=-1))
    store.upsert(item("used"))
    store.consume("code", "used")
    now = int(time.time())
    for _ in range(2):
        old = store.increment("code", "old", at=now)
        assert old.expires_at <= now and not old.usable(now)
        used = store.increment("code", "used", at=now)
        assert used.consumed_at is not None and (used.counter, used.counted_at) == (0, None)
    store.upsert(item("late", ttl=60))
    assert store.increment("code", "late", at=now + 120).counter == 0  # counted after its expiry: refused
    assert store.increment("code", "late", at=now).counter == 0
    assert store.find("code", "late").counter == 1


def test_racing_increments_on_a_live_item_each_see_another_count(store):
    for key in rounds(store):
        store.upsert(item(key))
        now = int(time.time())
        befores = race(10, lambda: store.increment("code", key, at=now))  # noqa: B023
        assert sorted(before.counter for before in befores) == list(range(10))
        assert store.find("code", key).counter == 10


def test_racing_increments_with_create_until_each_see_another_count(store):
    until = int(time.time()) + 60
    for key in rounds(store):
        befores = race(10, lambda: store.increment("sealed", key, create_until=until))  # noqa: B023
        assert sorted(before.counter for before in befores) == list(range(10))
        assert store.find("sealed", key).first_counted_at is not None


def test_increment_with_create_until_counts_on_an_absent_or_expired_item_but_never_a_consumed_one(store):
    until = int(time.time()) + 60
    fresh = store.increment("sealed", "s", create_until=until)
    assert (fresh.counter, fresh.payload, fresh.expires_at) == (0, {}, until)
    assert store.increment("sealed", "s", create_until=until).counter == 1
    assert store.find("sealed", "s").counter == 2
    store.upsert(StateItem("sealed", "old", {"x": 1}, until - 120))  # expired, not yet deleted: absent
    assert store.increment("sealed", "old", create_until=until).counter == 0
    assert (store.find("sealed", "old").counter, store.find("sealed", "old").expires_at) == (1, until)
    store.insert_all([], closing=[("sealed", "s", until)])
    refused = store.increment("sealed", "s", create_until=until)
    assert refused.consumed_at is not None and refused.counter == 2
    assert store.find("sealed", "s", even_consumed=True).counter == 2  # a refused count changes nothing


def test_swap_replaces_the_payload_only_while_it_is_what_was_read(store):
    store.upsert(item("s", payload={"status": "pending"}))
    read = store.find("code", "s")
    store.increment("code", "s")  # a count does not change what was read
    assert store.swap(read, replace(read, payload={"status": "approved"}))
    assert not store.swap(read, replace(read, payload={"status": "denied"}))  # what was read is gone
    assert store.find("code", "s").payload == {"status": "approved"}
    assert store.find("code", "s").counter == 1  # the rest of the item stays
    store.upsert(item("used"))
    used = store.find("code", "used")
    store.consume("code", "used")
    assert not store.swap(used, replace(used, payload={"status": "approved"}))
    assert not store.swap(item("never"), item("never", payload={"status": "approved"}))
    store.upsert(item("old", ttl=-1))
    assert not store.swap(item("old", ttl=-1), item("old", payload={"status": "approved"}))
    assert store.find("code", "old") is None


def test_swap_wins_exactly_once_among_ten_racing_threads_that_read_the_same_item(store):
    for key in rounds(store):
        store.upsert(item(key, payload={"status": "pending"}))
        read = store.find("code", key)
        outcomes = race(10, lambda: store.swap(read, replace(read, payload={"by": threading.get_ident()})))  # noqa: B023
        assert sorted(outcomes) == [False] * 9 + [True]


def test_increment_counts_and_keeps_the_first_expiry(store):
    now = int(time.time())
    assert [store.increment("login_failures", "k", create_until=now + 60 + n).counter for n in range(3)] == [0, 1, 2]
    counted = store.find("login_failures", "k")
    assert counted.counter == 3 and counted.expires_at == now + 60 and counted.payload == {}


def test_an_expired_counter_starts_again(store):
    now = int(time.time())
    store.upsert(StateItem("login_failures", "k", {"old": 1}, now - 1, grant_id="g"))
    assert store.increment("login_failures", "k", create_until=now + 60).counter == 0
    counted = store.find("login_failures", "k")
    assert (counted.expires_at, counted.payload, counted.grant_id) == (now + 60, {}, None)


def test_ten_racing_increments_are_all_counted(store):
    expires_at = int(time.time()) + 60
    for key in rounds(store):
        befores = race(10, lambda: store.increment("login_failures", key, create_until=expires_at))  # noqa: B023
        assert sorted(before.counter for before in befores) == list(range(10))


# --------------------------------------------------------------------------- wiring


def test_use_state_store_builds_every_service_on_it_until_switched_back(memory_state, aws):
    from chalicelib import services
    from chalicelib.oauth.models.interaction import Authentication

    services.reset()  # what a test's own fixtures do: the choice survives it
    assert services.state_store() is memory_state
    cookie, _ = services.sessions().start(Authentication("ada", auth_time=int(time.time())))
    assert memory_state.find_by_subject("ada")
    assert not [call for call in aws.calls if call.startswith("dynamodb.")]  # nothing went to the state table
    services.use_state_store(None)
    assert not isinstance(services.state_store(), MemoryStateStore)
    assert services.sessions().find(cookie) is None
