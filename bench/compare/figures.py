"""The side-by-side's pure parts: a process's CPU time from ``/proc``, medians and ratios, the table.

No npm, no node, no AWS here, so ``tests/http/test_compare.py`` checks all of it on every ``make test``.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What one side measures and the other does not: printed under the table, so the ratio is read with it.
NOT_COMPARABLE = (
    "oidc-provider's figure includes its HTTP server (sockets, HTTP/1.1 parsing, Koa); Tollgate's "
    "does not: API Gateway parses HTTP and Lambda calls `app(event, context)` with the parsed event, "
    "and that event is built before the clock starts",
    "Tollgate's figure includes one JSON log line and its CloudWatch metrics (EMF) per request; "
    "oidc-provider logs nothing per request here",
    "neither side reads storage for a warm JWT client_credentials token: oidc-provider's in-memory "
    "adapter and Tollgate's DynamoDB (moto in this process) are not called, the client and keys are cached",
    "client secrets: oidc-provider compares the plain secret, Tollgate an HMAC of it with a pepper",
    "oidc-provider: node's process CPU time (all its threads, garbage collection included) over the "
    "round, read from /proc/<pid>/stat at the clock tick; Tollgate: the handler thread's CPU time",
)


@dataclass(frozen=True)
class Side:
    """One implementation's rounds for one algorithm: CPU microseconds per token, one figure per round."""

    name: str
    per_token_us: tuple[float, ...]

    @property
    def median_us(self) -> float:
        return statistics.median(self.per_token_us)

    @property
    def spread(self) -> str:
        low, high = min(self.per_token_us), max(self.per_token_us)
        return f"{low:,.0f}–{high:,.0f}" if round(low) != round(high) else f"{low:,.0f}"


@dataclass(frozen=True)
class Row:
    alg: str
    oidc_provider: Side
    tollgate: Side
    tokens_per_round: int
    signature_us: float | None = None  # the bare signature with Tollgate's key, on the same core

    @property
    def ratio(self) -> float:
        """oidc-provider's CPU per token over Tollgate's: above 1, Tollgate spends less."""
        return ratio(self.oidc_provider.median_us, self.tollgate.median_us)

    @property
    def ceiling(self) -> float | None:
        """The ratio if Tollgate spent nothing but the signature: no code around it can do better."""
        return None if not self.signature_us else ratio(self.oidc_provider.median_us, self.signature_us)


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    machine: Mapping[str, Any]
    versions: Mapping[str, str]
    cores: Mapping[str, int]  # server (both sides) and driver
    connections: int = 1  # keep-alive connections driving oidc-provider at once
    notes: tuple[str, ...] = field(default_factory=tuple)


def ratio(numerator: float, denominator: float) -> float:
    if denominator <= 0:
        raise ValueError("a side measured no CPU time: too few tokens for the clock")
    return numerator / denominator


def per_token_us(cpu_seconds: float, tokens: int) -> float:
    if tokens <= 0:
        raise ValueError("no token was issued")
    return cpu_seconds * 1e6 / tokens


# --------------------------------------------------------------------------- /proc


def cpu_seconds_from_stat(stat: str, ticks_per_second: int) -> float:
    """utime + stime of a ``/proc/<pid>/stat`` line, in seconds (proc(5): fields 14 and 15).

    The command name (field 2) is in parentheses and may itself hold spaces
    and parentheses, so the fields are counted after its last ``)``.
    """
    _, closing, rest = stat.rpartition(")")
    fields = rest.split()
    if not closing or len(fields) < 13:
        raise ValueError(f"not a /proc/<pid>/stat line: {stat[:80]!r}")
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15; ``rest`` starts at field 3
    return (utime + stime) / ticks_per_second


def process_cpu_seconds(pid: int) -> float:
    """The whole process's CPU time so far: every thread, user and system."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        return cpu_seconds_from_stat(stat.read(), os.sysconf("SC_CLK_TCK"))


# --------------------------------------------------------------------------- tokens


def _segment(part: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("a JWT segment is not a JSON object")
    return value


def token_problem(status: int, body: bytes | str, *, alg: str, audience: str, scope: str) -> str | None:
    """Why a token response is not the one both sides must issue, or None (RFC 9068 §2.1, §2.2).

    200, a JWS compact access token with the expected ``alg`` and ``typ``
    ``at+jwt``, ``aud`` the one resource and ``scope`` the one scope.
    """
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    try:
        answer = json.loads(body)
        header_part, payload_part, _ = answer["access_token"].split(".")
        header, claims = _segment(header_part), _segment(payload_part)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return f"not a JWT access token response ({error}): {body[:200]!r}"
    aud = claims.get("aud")
    expected = {"alg": alg, "typ": "at+jwt", "aud": audience, "scope": scope}
    found = {
        "alg": header.get("alg"),
        "typ": str(header.get("typ", "")).lower().removeprefix("application/"),
        "aud": aud[0] if isinstance(aud, list) and len(aud) == 1 else aud,
        "scope": claims.get("scope"),
    }
    wrong = {name: value for name, value in found.items() if value != expected[name]}
    return f"unexpected {wrong} (expected {expected})" if wrong else None


# --------------------------------------------------------------------------- report


def render(comparison: Comparison) -> str:
    """Markdown: the machine, the table (medians, the rounds' spread, the ratio) and what is not comparable."""
    machine = comparison.machine
    versions = ", ".join(f"{name} {version}" for name, version in comparison.versions.items())
    cores = comparison.cores
    lines = [
        "## Side by side: CPU per client_credentials JWT token",
        "",
        f"{machine.get('date', '?')}, {machine.get('cpu', '?')}, nproc {machine.get('cores', '?')}, load average "
        f"{machine.get('load_average', '?')}; {versions}.",
        f"Both servers on core {cores.get('server')}; oidc-provider driven over {comparison.connections} keep-alive "
        f"HTTP connection(s) at once from core {cores.get('driver')}. Medians of the rounds (min–max in brackets).",
        "",
        "| token | oidc-provider CPU per token | Tollgate CPU per token | ratio (oidc-provider / Tollgate) "
        "| the signature alone | ratio at best | rounds × tokens |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in comparison.rows:
        signature = f"{row.signature_us:,.0f} µs" if row.signature_us else "—"
        ceiling = f"{row.ceiling:.2f}" if row.ceiling else "—"
        lines.append(
            f"| {row.alg} | {row.oidc_provider.median_us:,.0f} µs ({row.oidc_provider.spread}) "
            f"| {row.tollgate.median_us:,.0f} µs ({row.tollgate.spread}) | {row.ratio:.2f} | {signature} "
            f"| {ceiling} | {len(row.tollgate.per_token_us)} × {row.tokens_per_round:,} |"
        )
    lines += [
        "",
        "The signature alone: Tollgate's signing key signing one token's input (`cryptography`, the same core, "
        "median); both sides sign once per token with OpenSSL. Ratio at best: oidc-provider's CPU per token over "
        "that signature, the ratio Tollgate would reach if it spent nothing else.",
        "",
        "Not comparable:",
        *(f"- {note}" for note in (*NOT_COMPARABLE, *comparison.notes)),
    ]
    return "\n".join(lines) + "\n"


def plain(comparison: Comparison) -> dict[str, Any]:
    """JSON-ready, with the medians and ratios spelled out."""
    return {
        "machine": dict(comparison.machine),
        "versions": dict(comparison.versions),
        "cores": dict(comparison.cores),
        "connections": comparison.connections,
        "notes": list(comparison.notes),
        "rows": [
            {
                "alg": row.alg,
                "tokens_per_round": row.tokens_per_round,
                "oidc_provider_us": list(row.oidc_provider.per_token_us),
                "tollgate_us": list(row.tollgate.per_token_us),
                "oidc_provider_median_us": row.oidc_provider.median_us,
                "tollgate_median_us": row.tollgate.median_us,
                "ratio": row.ratio,
                "signature_us": row.signature_us,
                "ratio_at_best": row.ceiling,
            }
            for row in comparison.rows
        ],
    }


def interleave(rounds: int, sides: Sequence[str]) -> list[str]:
    """The order the rounds run in: one of each side in turn, the first side alternating.

    Alternating means a slow spell of the shared machine falls on both sides alike.
    """
    order: list[str] = []
    for index in range(rounds):
        order += list(sides) if index % 2 == 0 else list(reversed(sides))
    return order
