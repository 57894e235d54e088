"""``python -m bench --compare``: CPU per token, Tollgate against panva's oidc-provider 9, side by side.

The same token on both sides (issue 13): client_credentials with
``client_secret_basic``, one scope, one resource (RFC 8707), an RFC 9068 JWT
access token signed RS256 or ES256.  Both servers run on one core: node
pinned with ``taskset``, Tollgate's handler in this process pinned with
``os.sched_setaffinity``; this process drives node over one keep-alive HTTP
connection from another core.  Rounds alternate (node, Tollgate, Tollgate,
node, ...) so a slow spell of a shared machine falls on both; the table shows
medians and oidc-provider's CPU per token divided by Tollgate's.

- :mod:`bench.compare.figures`: ``/proc`` reader, medians and ratios, token check, table (pure);
- :mod:`bench.compare.node`: npm install of the committed lock, the server (``server.mjs``), the driver;
- :mod:`bench.compare.tollgate`: the handler on the embedded AWS, as the bench's other rows run it.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

from bench.compare import node, tollgate
from bench.compare.figures import Comparison, Row, Side, interleave

ALGORITHMS = ("RS256", "ES256")
NODE, TOLLGATE = "oidc-provider", "Tollgate"
# Untimed tokens first: V8 optimises oidc-provider's hot paths only after thousands of calls (with a few
# hundred, its first round cost half as much again as the others); Python's caches fill at once.
NODE_WARMUP = 4000
TOLLGATE_WARMUP = 300


def cores() -> dict[str, int]:
    """The server core (both sides, in turn) and the driver's: two different ones when there are two."""
    usable = sorted(os.sched_getaffinity(0))
    return {"server": usable[-1], "driver": usable[0]}


def compare(rounds: int, tokens: int, connections: int = 8, algorithms: Sequence[str] = ALGORITHMS) -> Comparison:
    """Needs node, npm and taskset (raises :class:`node.NodeUnavailable` without them) and dummy AWS settings."""
    from app import app
    from bench.world import World, in_process_aws, settings_env

    target = node.install()
    pinned = cores()
    rows = []
    with in_process_aws():
        request = tollgate.token_request()
        world = World(app)
        for alg in algorithms:
            with settings_env({"ACCESS_TOKEN_SIGNING_ALG": alg}), node.server(alg, request, pinned["server"]) as server:
                load = node.Load(server.port, request, alg, connections, pinned["driver"])
                try:
                    rows.append(_rounds(world, server, load, request, alg, rounds, tokens, pinned["server"]))
                finally:
                    load.close()
            print(f"  compare {alg}: done", file=sys.stderr)
    notes = (
        f"oidc-provider served {connections} keep-alive connections at once (its best case, a server under "
        "load); Tollgate in Lambda answers one request per invocation",
    )
    if pinned["server"] == pinned["driver"]:
        notes += ("one core only: the driver shared the server's core",)
    versions = {
        "oidc-provider": node.version(target),
        "node": node.node_version(),
        "Tollgate on Python": platform.python_version(),
    }
    from bench import report

    return Comparison(tuple(rows), report.machine(), versions, pinned, connections, notes)


def _rounds(
    world: Any,
    server: node.Server,
    load: node.Load,
    request: node.TokenRequest,
    alg: str,
    rounds: int,
    tokens: int,
    core: int,
) -> Row:
    node.measure_round(server, load, NODE_WARMUP)
    tollgate.measure_round(world, request, alg, TOLLGATE_WARMUP, core)
    measured: dict[str, list[float]] = {NODE: [], TOLLGATE: []}
    for side in interleave(rounds, (NODE, TOLLGATE)):
        if side == NODE:
            measured[side].append(node.measure_round(server, load, tokens))
        else:
            measured[side].append(tollgate.measure_round(world, request, alg, tokens, core))
    signature = tollgate.signature_us(alg, core)
    return Row(alg, Side(NODE, tuple(measured[NODE])), Side(TOLLGATE, tuple(measured[TOLLGATE])), tokens, signature)
