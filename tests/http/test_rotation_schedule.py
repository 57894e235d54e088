"""Rotation runs once per schedule period, in both key modes, even when EventBridge or Lambda delivers a run twice.

EventBridge delivers a scheduled event at least once and Lambda retries a
failed asynchronous invocation; a second rotation minutes or hours after the
first would let a key published minutes earlier start signing.  The period
comes from ``KEY_ROTATION_SCHEDULE`` itself (:mod:`chalicelib.keys.schedule`).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib import services
from chalicelib.config import settings
from chalicelib.keys import rotation
from chalicelib.keys.schedule import shortest_interval, slack
from tests.http.test_key_rotation import lambdas  # noqa: F401  (a fixture: the app's Lambda functions)

DAY = 86400
SCHEDULED_EVENT = {
    "version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
    "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {},
}  # fmt: skip


# --------------------------------------------------------------------------- how often a schedule fires


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(30 days)", 30 * DAY),
        ("rate(1 day)", DAY),
        ("rate(90 minutes)", 5400),
        ("cron(0 9 1 * ? *)", 28 * DAY),  # 1st of every month: February is the shortest gap
        ("cron(0 9 1 1,7 ? *)", 181 * DAY),  # January and July
        ("cron(0 9 ? * MON *)", 7 * DAY),
        ("cron(30 4 ? * 2#1 *)", 28 * DAY),  # first Monday of the month
        ("cron(0 9 ? * 6L *)", 28 * DAY),  # last Friday of the month
        ("cron(0 9 L * ? *)", 28 * DAY),  # last day of the month
        ("cron(0/15 * * * ? *)", 900),
        ("cron(0 8,20 * * ? *)", 12 * 3600),
        ("cron(0 9 1 JAN-MAR/2 ? *)", 59 * DAY),  # January and March
    ],
)
def test_the_period_is_the_shortest_gap_between_two_runs_of_the_schedule(expression, interval):
    assert shortest_interval(expression) == interval


@pytest.mark.parametrize(
    "expression",
    [
        "every month",
        "rate(0 days)",
        "rate(2 weeks)",
        "cron(0 9 1 * *)",  # five fields
        "cron(0 9 1 * MON *)",  # day-of-month and day-of-week both given
        "cron(0 9 15W * ? *)",
        "cron(0 25 1 * ? *)",
        "cron(0 9 1 FOO ? *)",
    ],
)
def test_a_schedule_it_cannot_read_is_refused_with_a_reason(expression):
    with pytest.raises(ValueError):
        shortest_interval(expression)


def test_slack_is_small_next_to_the_period():
    assert slack(30 * DAY) == 3600 and slack(900) == 90


# --------------------------------------------------------------------------- the schedule's runs


@pytest.fixture
def run_schedule(lambdas) -> Any:  # noqa: F811
    """One scheduled run of the rotate_keys function, delivered as EventBridge does; its answer."""
    return lambda: lambdas.invoke("rotate_keys", SCHEDULED_EVENT).payload


@pytest.fixture
def clock(monkeypatch):
    """One wall clock for rotation and for the KMS that dates new keys; it starts at the keys' creation."""
    now = [float(int(time.time()))]
    monkeypatch.setattr(rotation, "now", lambda: int(now[0]))
    monkeypatch.setattr("moto.kms.models.unix_time", lambda *_: now[0])
    return now


@pytest.fixture(params=["secrets", "kms"])
def mode(request, aws, clock, monkeypatch) -> str:
    """A stage with its first keys, made at ``clock``, in each key mode."""
    if request.param == "kms":
        monkeypatch.setenv("KEY_MODE", "kms")
        monkeypatch.setenv("KMS_KEY_ALIAS_PREFIX", "alias/tollgate-test-signing")
        services.reset()
    else:
        from chalicelib.keys.secrets_mode import write_keyset

        write_keyset(settings().keys_secret_id, {"keys": []})
    rotation.ensure_keys() if request.param == "kms" else rotation.rotate()
    return str(request.param)


def signing_kids() -> set[str]:
    return {key["kid"] for key in rotation.list_keys() if key["status"] == "current"}


def skipped_metrics(out: str) -> list[Any]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return [line["KeyRotationSkipped"] for line in lines if "KeyRotationSkipped" in line]


def test_a_retried_scheduled_rotation_is_skipped_until_a_period_has_passed(mode, run_schedule, clock, capsys):
    period = shortest_interval(settings().key_rotation_schedule)
    clock[0] += period  # the first keys have signed for a whole period: the schedule rotates
    before = signing_kids()
    assert "result" in run_schedule()
    rotated = signing_kids()
    assert rotated.isdisjoint(before)

    capsys.readouterr()
    clock[0] += 2 * rotation.retention(settings())  # a retry hours later: past the pace, within the period
    retried = run_schedule()
    assert "skipped" in retried and "result" not in retried
    assert signing_kids() == rotated  # the key published at the first run did not start signing
    assert skipped_metrics(capsys.readouterr().out) == [[1.0]]

    clock[0] += period  # the next period's run rotates again
    assert "result" in run_schedule()
    assert signing_kids().isdisjoint(rotated)


def test_the_schedule_waits_a_period_after_an_operators_rotation(mode, run_schedule, clock):
    clock[0] += rotation.pace(settings()) + 1
    rotation.rotate()  # keys rotate: only the pace holds it back
    rotated = signing_kids()
    clock[0] += DAY
    assert "skipped" in run_schedule()
    assert signing_kids() == rotated
