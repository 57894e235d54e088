"""Tollgate's side: the warm API handler called as Lambda calls it, pinned to the server core.

The same token request as oidc-provider's (body and Basic credentials),
wrapped in the API Gateway event :mod:`bench.world` builds for the bench's
client_credentials rows; the client is the bench's machine client.  The
events are built before the clock starts (API Gateway's work in AWS) and the
answers checked after it stops; the clock is the handler thread's CPU time.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Iterator
from typing import Any

from bench.compare.figures import per_token_us, token_problem
from bench.compare.node import TokenRequest
from bench.world import FORM, World, http_event, register_machine_client

AUDIENCE = "https://api.example.com"  # one of the bench client's audiences (bench.world)
SCOPE = "invoices:read"  # one of its scopes


def token_request() -> TokenRequest:
    """Registers the bench's machine client (needs the embedded AWS) and asks for one scope and one resource."""
    client = register_machine_client("jwt")
    return TokenRequest(client.client_id, client.client_secret, SCOPE, AUDIENCE)


def event(request: TokenRequest) -> dict[str, Any]:
    headers = {"Content-Type": FORM, "Authorization": request.authorization}
    return http_event("POST", "/oauth2/token", headers=headers, body=request.body)


def measure_round(world: World, request: TokenRequest, alg: str, tokens: int, core: int) -> float:
    """CPU microseconds per token of ``tokens`` handler calls on ``core``; raises if an answer is wrong."""
    from bench.measure import LogSink

    template = event(request)
    events = [copy.deepcopy(template) for _ in range(tokens)]
    # LogSink: CloudWatch Logs' stand-in, lines formatted, then dropped
    with pinned(core), contextlib.redirect_stdout(LogSink()):
        start = time.thread_time_ns()
        answers = [world.handle(one) for one in events]
        spent = (time.thread_time_ns() - start) / 1e9
    for answer in answers:
        problem = token_problem(
            int(answer["statusCode"]), answer.get("body") or "", alg=alg, audience=AUDIENCE, scope=SCOPE
        )
        if problem:
            raise RuntimeError(f"Tollgate {alg}: {problem}")
    return per_token_us(spent, tokens)


def signature_us(alg: str, core: int, samples: int = 500) -> float:
    """The bare signature of one token's signing input with Tollgate's current ``alg`` key, on ``core``."""
    from bench.crypto import CLAIMS, TYP, median_us
    from chalicelib import services
    from chalicelib.tokens import jws

    key = services.key_provider().signing_key(alg)
    message = jws.sign(key, CLAIMS, typ=TYP).rsplit(".", 1)[0].encode()
    with pinned(core):
        return median_us(lambda: key.sign(message), samples, time.thread_time_ns)


@contextlib.contextmanager
def pinned(core: int) -> Iterator[None]:
    """This thread on ``core`` only, as the server it is compared with; the affinity it had afterwards."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
