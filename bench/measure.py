"""Run one scenario: AWS calls per request, handler latency, and the same calls made raw.

For each row the container starts cold (``services.reset()``), so the first
request shows what a cold start costs in calls; then it warms up, records
the calls of a few requests, and times many, each followed by a replay of
one recorded request's calls with plain boto3 clients against the same
embedded AWS.  The overhead ratio is the handler's median over the replay's
median: how much Tollgate adds to the storage calls it cannot avoid.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.cost import request_units
from bench.counting import Call, Recorder, by_operation, restore
from bench.scenarios import Scenario
from bench.world import Event, World, answer, settings_env

WARMUP = 20
COUNTED = 20
THROUGHPUT_SECONDS = 2.0

Clock = Callable[[], int]  # nanoseconds
# In-process, a request never waits on I/O: its thread's CPU time is its latency without the
# time other processes took the core (other test runs on a shared 2-core machine), so the
# figures hold still on a busy machine.  ``wall`` times what a quiet machine would show.
CLOCKS: dict[str, Clock] = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}


@dataclass(frozen=True)
class Figures:
    """One row of the table; plain data so a run can be saved and priced again later."""

    name: str
    endpoint: str
    floor: int
    calls: int  # on a warm container: the most frequent count over the counted requests
    calls_max: int
    operations: dict[str, int]
    cold_operations: dict[str, int]  # the first request of a fresh container
    read_units: float  # DynamoDB request units per warm request
    write_units: float
    handler_us: float  # median
    raw_us: float | None  # median of the same calls through plain boto3; None without calls
    samples: int
    tokens_per_second: float | None = None
    log_bytes: float = 0.0  # what the app writes to stdout (CloudWatch Logs) per warm request
    slow_by_design: str = ""  # why the overhead ratio goal does not apply (a password hash)
    abuse: str = ""  # what the attacker does, for a row that prices abuse

    @property
    def overhead_ratio(self) -> float | None:
        return self.handler_us / self.raw_us if self.raw_us else None


class LogSink(io.TextIOBase):
    """Stands in for CloudWatch Logs on stdout: keeps the count, drops the text.

    The handler still formats every log line, so its cost stays in the timings.
    """

    def __init__(self) -> None:
        self.chars = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def measure(
    world: World, recorder: Recorder, scenario: Scenario, samples: int, clock: Clock = time.thread_time_ns
) -> Figures:
    sink = LogSink()
    samples = min(samples, scenario.max_samples or samples)
    with settings_env(scenario.env), contextlib.redirect_stdout(sink):  # a fresh container for this row
        requests = scenario.requests(world)
        first = next(requests)
        _forget_warm_state()  # preparing the first request warmed pepper and keys: start cold again
        cold = _counted(world, recorder, scenario, first)
        for _ in range(min(WARMUP, samples // 3)):
            _checked(world, scenario, next(requests))
        counted, logged = [], 0
        for _ in range(max(1, min(COUNTED, samples // 3))):
            event = next(requests)  # preparing it may log too: count only the request's own lines
            before = sink.chars
            counted.append(_counted(world, recorder, scenario, event))
            logged += sink.chars - before
        log_bytes = logged / len(counted)
        handler, raw = _time_paired(world, scenario, requests, counted, samples, clock)
        rate = _sustained_rate(world, requests, clock) if scenario.tokens_per_second else None
    return _figures(scenario, cold, counted, (handler, raw), rate, log_bytes)


def count_calls(world: World, recorder: Recorder, scenario: Scenario, requests: int) -> list[list[Call]]:
    """The calls of ``requests`` warm requests (what the tests hold against the floor)."""
    with settings_env(scenario.env):
        events = scenario.requests(world)
        for _ in range(3):
            _checked(world, scenario, next(events))
        return [_counted(world, recorder, scenario, next(events)) for _ in range(requests)]


def _forget_warm_state() -> None:
    from chalicelib import services

    services.reset()


def _checked(world: World, scenario: Scenario, event: Event) -> None:
    result = answer(world.handle(event))
    if not scenario.check(result):
        raise RuntimeError(f"{scenario.name}: unexpected answer {result}")


def _counted(world: World, recorder: Recorder, scenario: Scenario, event: Event) -> list[Call]:
    with recorder.recording() as calls:
        response = world.handle(event)
    if not scenario.check(answer(response)):
        raise RuntimeError(f"{scenario.name}: unexpected answer {answer(response)}")
    return list(calls)


def _time_paired(
    world: World,
    scenario: Scenario,
    requests: Iterator[Event],
    counted: list[list[Call]],
    samples: int,
    clock: Clock,
) -> tuple[list[float], list[float] | None]:
    """Handler timings, each followed by a raw replay of one recorded request's calls.

    Alternating the two means both see the same machine: other processes'
    load and the embedded AWS's growing tables slow them alike.
    """
    raw = RawClients() if any(counted) else None
    if raw is not None:
        for calls in counted[:3]:  # create the clients and warm their connections first
            raw.replay(calls, clock)
    handler: list[float] = []
    replayed: list[float] = []
    gc.collect()
    for index in range(samples):
        event = next(requests)
        start = clock()
        response = world.handle(event)
        handler.append((clock() - start) / 1000)
        if not scenario.check(answer(response)):
            raise RuntimeError(f"{scenario.name}: unexpected answer {answer(response)}")
        if raw is not None:
            replayed.append(raw.replay(counted[index % len(counted)], clock))
    return handler, (replayed if raw is not None else None)


class RawClients:
    """Plain boto3 clients, one per service, with default settings: the baseline."""

    def __init__(self) -> None:
        import boto3

        self._session = boto3.session.Session()
        self._methods: dict[tuple[str, str], Any] = {}
        self._dynamodb: Any = None  # puts items back before a replay; never timed

    def method(self, call: Call) -> Any:
        key = (call.service, call.operation)
        if key not in self._methods:
            from botocore import xform_name

            client = self._session.client(call.service)  # type: ignore[call-overload]
            self._methods[key] = getattr(client, xform_name(call.operation))
        return self._methods[key]

    def replay(self, calls: list[Call], clock: Clock = time.thread_time_ns) -> float:
        """Microseconds to make ``calls`` again, on the items as they were (see :mod:`bench.counting`)."""
        from botocore.exceptions import ClientError

        if self._dynamodb is None:
            self._dynamodb = self._session.client("dynamodb")  # type: ignore[call-overload]
        restore(self._dynamodb, calls)
        prepared = [(self.method(call), copy.deepcopy(call.params)) for call in calls]
        start = clock()
        for method, params in prepared:
            with contextlib.suppress(ClientError):
                method(**params)
        return (clock() - start) / 1000


def _sustained_rate(world: World, requests: Iterator[Event], clock: Clock) -> float:
    """Requests per second of ``clock`` time, back to back on this one thread (one core), for a few seconds."""
    events = [next(requests) for _ in range(64)]
    gc.collect()
    handled = 0
    start = clock()
    deadline = time.perf_counter() + THROUGHPUT_SECONDS
    while time.perf_counter() < deadline:
        for event in events:
            world.handle(event)
        handled += len(events)
    return handled / ((clock() - start) / 1e9)


def _figures(
    scenario: Scenario,
    cold: list[Call],
    counted: list[list[Call]],
    timings: tuple[list[float], list[float] | None],
    rate: float | None,
    log_bytes: float,
) -> Figures:
    handler, raw = timings
    counts = Counter(len(calls) for calls in counted)
    typical = counts.most_common(1)[0][0]
    representative = next(calls for calls in counted if len(calls) == typical)
    units = [request_units(calls) for calls in counted]
    return Figures(
        name=scenario.name,
        endpoint=scenario.endpoint,
        floor=scenario.floor,
        calls=typical,
        calls_max=max(counts),
        operations=by_operation(representative),
        cold_operations=by_operation(cold),
        read_units=statistics.fmean(read for read, _ in units),
        write_units=statistics.fmean(write for _, write in units),
        handler_us=statistics.median(handler),
        raw_us=statistics.median(raw) if raw else None,
        samples=len(handler),
        tokens_per_second=rate,
        log_bytes=log_bytes,
        slow_by_design=scenario.slow_by_design,
        abuse=scenario.abuse,
    )
