"""Attempt counters: the limit in a fixed window, on the memory adapter (no moto)."""

from __future__ import annotations

import time

from chalicelib.oauth import device, password_login
from chalicelib.oauth.models.counter import DeviceAttempts, LoginAttempts, LoginDelay
from chalicelib.storage.memory import MemoryStateStore


def test_the_limit_th_attempt_is_allowed_and_the_next_is_not():
    store, counter, now = MemoryStateStore(), DeviceAttempts(limit=3, window=60), int(time.time())
    allowed = [counter.allows(store.increment(counter.KIND, "k", create_until=counter.until(now))) for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    assert store.find(counter.KIND, "k").expires_at == now + 60  # fixed from the first attempt


def test_the_kinds_are_the_ones_stored_today():
    assert (DeviceAttempts.KIND, device.ATTEMPTS_KIND) == ("device_attempts", "device_attempts")
    assert (LoginAttempts.KIND, LoginDelay.KIND) == (password_login.LOGIN_ATTEMPTS, password_login.LOGIN_DELAY)
    assert (device.PER_SOURCE.limit, device.PER_SOURCE.window) == (20, 15 * 60)


def test_an_attempt_is_numbered_from_one_and_a_limit_of_one_is_a_slot_one_caller_takes():
    store, slot, now = MemoryStateStore(), LoginDelay(limit=1, window=30), int(time.time())
    befores = [store.increment(slot.KIND, "pair", at=now, create_until=slot.until(now)) for _ in range(3)]
    assert [slot.attempt(before) for before in befores] == [1, 2, 3]
    assert [slot.allows(before) for before in befores] == [True, False, False]
    assert slot.attempt(None) == 1  # nothing counted before: the first
