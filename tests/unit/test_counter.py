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
