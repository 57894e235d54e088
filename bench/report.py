"""The bench's output: Markdown tables, each figure next to its goal.

Works on the saved results (plain JSON), so the README's table and
``python -m bench.cost`` read the same numbers the run printed.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Mapping
from typing import Any

from bench import cost

GOAL_RATIO = 1.5
GOAL_TOKENS_PER_SECOND = 1200
GOAL_IMPORT_RATIO = 1.3
GOAL_ZIP_MB = 8.0

CLOCK_NAMES = {
    "cpu": "timed in the thread's CPU time (in-process nothing waits on I/O; other processes' load stays out)",
    "wall": "timed in elapsed time",
}


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def machine() -> dict[str, Any]:
    """What the figures were measured on; the load average tells how quiet the machine was."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "executable": sys.executable,
    }


def _us(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def _ops(operations: Mapping[str, int]) -> str:
    return (
        ", ".join(
            f"{name.split('.', 1)[1]}×{count}" if count > 1 else name.split(".", 1)[1]
            for name, count in operations.items()
        )
        or "—"
    )


def _most_samples(results: Mapping[str, Any]) -> int:
    return max((row["samples"] for row in results["scenarios"]), default=0)


def requests_table(
    results: Mapping[str, Any], prices: Mapping[str, float], assumptions: Mapping[str, float]
) -> list[str]:
    cold_ms = float(results.get("coldstart", {}).get("first_token_ms") or 0.0)
    lines = [
        "| scenario | AWS calls (floor) | which | cold container | handler p50 | same calls, raw boto3 p50 "
        "| overhead ratio (≤ 1.5) | $ per million |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for row in results["scenarios"]:
        calls = f"{row['calls']} ({row['floor']}) {mark(row['calls'] <= row['floor'])}"
        if row["calls_max"] != row["calls"]:
            calls += f" up to {row['calls_max']}"
        ratio = row["overhead_ratio"]
        if ratio is None:
            shown_ratio = "— (no AWS call)"
        elif row.get("slow_by_design"):
            shown_ratio = f"{ratio:.2f}: {row['slow_by_design']}"
        else:
            shown_ratio = f"{ratio:.2f} {mark(ratio <= GOAL_RATIO)}"
        dollars = cost.price(row, prices, assumptions, cold_ms).total
        fewer = f" (n={row['samples']})" if row["samples"] < _most_samples(results) else ""
        lines.append(
            f"| {row['name']} | {calls} | {_ops(row['operations'])} | {sum(row['cold_operations'].values())} "
            f"| {_us(row['handler_us'])}{fewer} | {_us(row['raw_us'])} | {shown_ratio} | ${dollars:.2f} |"
        )
    return lines


def throughput_lines(results: Mapping[str, Any]) -> list[str]:
    lines = []
    for row in results["scenarios"]:
        rate = row.get("tokens_per_second")
        if rate:
            goal = (
                f" (goal ≥ {GOAL_TOKENS_PER_SECOND:,}) {mark(rate >= GOAL_TOKENS_PER_SECOND)}"
                if "RS256" in row["name"]
                else ""
            )
            lines.append(f"- {row['name']}: **{rate:,.0f} tokens/s** on one core{goal}")
    return lines


def crypto_table(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "| algorithm | sign (cryptography) | whole JWS sign | verify (cryptography) "
        "| whole JWS verify (PyJWT, claims) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results.get("crypto", []):
        lines.append(
            f"| {row['alg']} | {_us(row['sign_us'])} | {_us(row['jws_sign_us'])} "
            f"| {_us(row['verify_us'])} | {_us(row['jws_verify_us'])} |"
        )
    return lines


def coldstart_lines(results: Mapping[str, Any]) -> list[str]:
    section = results.get("coldstart") or {}
    if section.get("error"):
        return [f"Not measured: {section['error']}"]
    lines = [
        "| code as | import app | import boto3 | ratio (≤ 1.3) | fresh process to first token | second token |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for layout in section.get("layouts", []):
        imports, first = layout["imports"], layout.get("first_token") or {}
        ratio = imports["app_ms"] / imports["boto3_ms"]
        lines.append(
            f"| {layout['name']} | {imports['app_ms']:.0f} ms | {imports['boto3_ms']:.0f} ms "
            f"| {ratio:.2f} {mark(ratio <= GOAL_IMPORT_RATIO)} | {first.get('first_token_ms', 0):.0f} ms "
            f"| {first.get('second_token_ms', 0):.1f} ms |"
        )
    lines += [f"- {note}" for note in section.get("notes", [])]
    return lines


def package_lines(results: Mapping[str, Any]) -> list[str]:
    package = results.get("package") or {}
    if not package:
        return ["Not measured (--skip-package)."]
    if not package.get("ok"):
        return [f"Not measured: {package.get('error')}"]
    megabytes = package["zip_bytes"] / 1_000_000
    largest = ", ".join(f"{name} {size / 1_000_000:.1f} MB" for name, size in package["largest"])
    sdk = ", ".join(package["carries_sdk"]) or "no boto3, botocore or s3transfer"
    lines = [
        f"- `chalice package --stage {package['stage']}`: **{megabytes:.1f} MB** zip (goal ≤ {GOAL_ZIP_MB:.0f} MB) "
        f"{mark(megabytes <= GOAL_ZIP_MB)}; {sdk}; largest: {largest}",
        f"- API handler: {package.get('runtime')}, {package.get('architecture')}, {package.get('memory_mb')} MB",
    ]
    lines += [f"- {note}" for note in package.get("notes", [])]
    return lines


def render(results: Mapping[str, Any], prices: Mapping[str, float], assumptions: Mapping[str, float]) -> str:
    host = results["machine"]
    parts = [
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['system']}, Python {host['python']}; "
        f"load average at start {host['load_average'][0]} ({host['date']}).",
        "",
        "Per request, warm container, embedded AWS in-process (moto); medians of "
        f"{_most_samples(results)} requests each (n= where fewer), "
        f"{CLOCK_NAMES[results.get('clock', 'wall')]}:",
        "",
        *requests_table(results, prices, assumptions),
        "",
        *throughput_lines(results),
        "",
        "Signing and verification, median per operation:",
        "",
        *crypto_table(results),
        "",
        "Cold start, fresh processes (median):",
        "",
        *coldstart_lines(results),
        "",
        "Deployment package:",
        "",
        *package_lines(results),
        "",
        "Cost, US East list prices (`python -m bench.cost --help` to change any input):",
        "",
        *cost.cost_table(results, prices, assumptions),
        "",
        "Abuse, per million requests (README: Abuse and cost):",
        "",
        *cost.abuse_table(results, prices, assumptions),
        "",
        cost.inputs_line(prices, assumptions),
    ]
    return "\n".join(parts) + "\n"
