"""The storage port on DynamoDB (moto): expiry on every read, single use under concurrency, grant revocation."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.oauth.ports import AlreadyConsumed, StateItem, TooEarly


@pytest.fixture
def store(aws):
    from chalicelib import services

    return services.state_store()


def item(id="h1", *, kind="code", ttl=60, grant_id=None, user_code=None, payload=None):
    return StateItem(kind, id, payload or {"x": 1}, int(time.time()) + ttl, grant_id=grant_id, user_code=user_code)


def test_upsert_then_find_round_trips(store):
    store.upsert(item(payload={"scope": "a b", "n": 3}))
    found = store.find("code", "h1")
    assert found.payload == {"scope": "a b", "n": 3} and found.kind == "code"


def test_expired_items_are_absent_even_though_the_table_still_holds_them(store):
    store.upsert(item(ttl=-1, user_code="BCDFGHJK"))
    assert store.find("code", "h1") is None
    assert store.find_by_user_code("BCDFGHJK") is None
    with pytest.raises(KeyError):
        store.consume("code", "h1")


def test_consume_succeeds_once_then_reports_replay_with_the_item(store):
    store.upsert(item(grant_id="g1"))
    assert store.consume("code", "h1").payload == {"x": 1}
    with pytest.raises(AlreadyConsumed) as replay:
        store.consume("code", "h1")
    assert replay.value.item.grant_id == "g1"
    assert store.find("code", "h1") is None


def test_consume_of_an_unknown_item_is_a_key_error(store):
    with pytest.raises(KeyError):
        store.consume("code", "nope")


def test_consume_wins_exactly_once_among_ten_racing_threads(store):
    store.upsert(item())
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def race() -> None:
        barrier.wait()
        try:
            store.consume("code", "h1")
            outcomes.append("won")
        except AlreadyConsumed:
            outcomes.append("replay")

    threads = [threading.Thread(target=race) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["replay"] * 9 + ["won"]


def test_revoke_by_grant_removes_everything_of_that_grant_only(store):
    store.upsert(item("a", grant_id="g1"))
    store.upsert(item("b", kind="refresh_token", grant_id="g1"))
    store.upsert(item("c", grant_id="g2"))
    assert store.revoke_by_grant("g1") == 2
    assert store.find("code", "a") is None and store.find("refresh_token", "b") is None
    assert store.find("code", "c") is not None


def test_find_by_user_code(store):
    store.upsert(item("d1", kind="device_code", user_code="BCDFGHJK"))
    assert store.find_by_user_code("BCDFGHJK").id == "d1"
    assert store.find_by_user_code("ZZZZZZZZ") is None


def test_destroy_is_idempotent(store):
    store.upsert(item())
    store.destroy("code", "h1")
    store.destroy("code", "h1")
    assert store.find("code", "h1") is None


def test_insert_all_is_all_or_nothing_and_refuses_live_keys(store):
    assert store.insert_all([item("a"), item("b", kind="user_code")])
    assert not store.insert_all([item("c"), item("b", kind="user_code")])
    assert store.find("code", "c") is None
    store.upsert(item("old", ttl=-1))
    assert store.insert_all([item("old")])  # an expired item counts as absent


def test_insert_all_unless_stores_nothing_while_the_named_item_is_live(store):
    store.upsert(item("marker", kind="revoked_grant"))
    assert not store.insert_all([item("t1"), item("t2")], unless=[("revoked_grant", "marker")])
    assert store.find("code", "t1") is None and store.find("code", "t2") is None
    store.upsert(item("gone", kind="revoked_grant", ttl=-1))  # expired: counts as absent
    assert store.insert_all([item("t1")], unless=[("revoked_grant", "gone"), ("revoked_grant", "never")])
    assert store.find("code", "t1") is not None


def test_insert_all_unless_since_refuses_only_what_a_live_marker_dates_before_it(store):
    now = int(time.time())
    marker = StateItem("signed_out", "ada", {}, now + 60, not_before=now - 10)
    store.upsert(marker)
    assert not store.insert_all([item("before")], unless_since=[("signed_out", "ada", now - 10)])
    assert store.find("code", "before") is None
    assert store.insert_all([item("after")], unless_since=[("signed_out", "ada", now - 9), ("signed_out", "bob", 0)])
    store.upsert(StateItem("signed_out", "ada", {}, now - 1, not_before=now))  # expired: counts as absent
    assert store.insert_all([item("late")], unless_since=[("signed_out", "ada", 0)])


def test_find_by_subject_finds_a_persons_live_items_only(store):
    now = int(time.time())
    store.upsert(StateItem("session", "s1", {}, now + 60, subject="ada"))
    store.upsert(StateItem("consent", "c1", {"client_id": "app"}, now + 60, subject="ada"))
    store.upsert(StateItem("session", "s2", {}, now - 1, subject="ada"))  # expired
    store.upsert(StateItem("session", "s3", {}, now + 60, subject="bob"))
    store.upsert(item("code-without-subject"))
    found = sorted((found.kind, found.id, found.subject) for found in store.find_by_subject("ada"))
    assert found == [("consent", "c1", "ada"), ("session", "s1", "ada")]
    assert store.find_by_subject("nobody") == []


def test_record_poll_counts_polls_and_returns_the_item_as_it_was(store):
    store.upsert(item("d"))
    first = store.record_poll("code", "d", 1000)
    assert first is not None and first.polled_at is None and first.counter == 0
    second = store.record_poll("code", "d", 1005)
    assert (second.polled_at, second.first_polled_at, second.counter) == (1000, 1000, 1)
    assert store.record_poll("code", "d", 1007).first_polled_at == 1000
    assert store.record_poll("code", "missing", 1005) is None


def test_record_poll_of_an_expired_or_consumed_item_says_which_in_one_call(store, aws):
    store.upsert(item("old", ttl=-1))
    store.upsert(item("used"))
    store.consume("code", "used")
    aws.reset()
    assert store.record_poll("code", "old", int(time.time())).expires_at <= time.time()
    assert store.record_poll("code", "used", int(time.time())).consumed_at is not None
    assert aws.by_operation() == {"dynamodb.UpdateItem": 2}, aws.calls
    assert store.find("code", "old") is None and store.find("code", "used") is None


def test_a_refused_consume_tells_absent_replayed_and_too_early_in_one_call(store, aws):
    store.upsert(item("used"))
    store.consume("code", "used")
    now = int(time.time())
    store.upsert(StateItem("code", "early", {"x": 1}, now + 60, not_before=now + 30))
    for id, refusal in (("never", KeyError), ("used", AlreadyConsumed), ("early", TooEarly)):
        aws.reset()
        with pytest.raises(refusal):
            store.consume("code", id)
        assert aws.by_operation() == {"dynamodb.UpdateItem": 1}, (id, aws.calls)
    assert store.find("code", "early") is not None  # refused untouched: still usable once its time comes


def test_a_device_poll_leaves_the_user_code_index_entry_unchanged(store):
    """DynamoDB writes an index only when a projected attribute changes: a poll must change none."""
    import boto3

    from chalicelib.config import settings
    from chalicelib.storage.state import USER_CODE_INDEX

    def index_entry() -> list[dict]:
        return boto3.client("dynamodb").query(
            TableName=settings().state_table,
            IndexName=USER_CODE_INDEX,
            KeyConditionExpression="user_code = :code",
            ExpressionAttributeValues={":code": {"S": "BCDFGHJK"}},
        )["Items"]

    store.upsert(item("d1", kind="device_code", user_code="BCDFGHJK"))
    before = index_entry()
    store.record_poll("device_code", "d1", int(time.time()))
    store.record_poll("device_code", "d1", int(time.time()) + 1)
    assert index_entry() == before and before
    assert store.find_by_user_code("BCDFGHJK").payload == {"x": 1}


def test_settle_happens_exactly_once(store):
    store.upsert(item("s"))
    assert store.settle("code", "s", {"status": "approved"})
    assert not store.settle("code", "s", {"status": "denied"})
    assert store.find("code", "s").payload == {"status": "approved"}
