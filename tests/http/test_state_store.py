"""What only the DynamoDB adapter has: calls per outcome and index writes.

The port's rules (expiry, single use, races, transactions) are in
tests/contract/test_state_store_contract.py, run against both adapters.
"""

from __future__ import annotations

import time

import pytest

from chalicelib.oauth.ports import AlreadyConsumed, StateItem, TooEarly


@pytest.fixture
def store(aws):
    from chalicelib import services

    return services.state_store()


def item(id="h1", *, kind="code", ttl=60, grant_id=None, user_code=None, payload=None):
    return StateItem(kind, id, payload or {"x": 1}, int(time.time()) + ttl, grant_id=grant_id, user_code=user_code)


def test_increment_of_an_expired_or_consumed_item_says_which_in_one_call(store, aws):
    store.upsert(item("old", ttl=-1))
    store.upsert(item("used"))
    store.consume("code", "used")
    aws.reset()
    assert store.increment("code", "old").expires_at <= time.time()
    assert store.increment("code", "used").consumed_at is not None
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
    store.increment("device_code", "d1", at=int(time.time()))
    store.increment("device_code", "d1", at=int(time.time()) + 1)
    assert index_entry() == before and before
    assert store.find_by_user_code("BCDFGHJK").payload == {"x": 1}
