"""Tollgate's wall clock: every expiry, ``iat``, ``auth_time`` and lockout reads the time here.

One place to read it means one place a test can move it: the ``frozen_clock``
fixture stops and moves this clock only, while moto, botocore and PyJWT keep
the real time (patching ``time.time`` would move them all).  Elapsed-time
measurements (caches, latency) use ``time.monotonic``/``perf_counter``, and
log and metric timestamps stay on ``time.time``: CloudWatch dates them.
"""

from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch, as ``time.time()``."""
    return time.time()
