"""The cost model: dollars per million requests on AWS, against Amazon Cognito.

Every price and assumption is an input: edit :data:`PRICES` and
:data:`ASSUMPTIONS` below, or pass a flag of the same name to re-price the
last ``make bench`` run without measuring again::

    .venv/bin/python -m bench.cost --memory-mb 512 --aws-call-ms 8
    .venv/bin/python -m bench.cost --api-gateway-per-million 1.00   # an HTTP API instead of REST

What one warm request costs:

- Lambda (x86_64, :data:`LAMBDA_ARCHITECTURE`): billed duration = Tollgate's own CPU time (handler median
  minus the raw replay of its AWS calls), scaled to the CPU share the
  configured memory buys, plus ``aws_call_ms`` per AWS call; rounded up to
  the millisecond; times memory; plus the per-request price.
- API Gateway REST API per request; CloudWatch Logs ingestion of the
  platform's lines and of what the app wrote to stdout per request (measured).
- DynamoDB on-demand: the request units of the counted calls (a strongly
  consistent read up to 4 KB is 1 RRU, an eventually consistent one 0.5, a
  write up to 1 KB 1 WRU, transactions twice that; index writes are not
  counted: no measured scenario writes an indexed item).
- Amortised: a cold start every ``requests_per_cold_start`` requests (its
  init time is billed, and it reads the pepper, the key set and the client),
  and the cache refreshes of a warm container (key set every
  ``key_cache_seconds``, client every ``client_cache_seconds``); each
  Secrets Manager read of a secret under the customer key is also a KMS Decrypt.

Fixed monthly costs (two secrets, one KMS key, table storage) do not depend
on traffic and are listed apart.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The package is built for x86_64 (Chalice's default: .chalice/config.json sets no lambda_architecture), so that
# `make bench` can unzip and run the very package here; arm64 would save about 20% of the Lambda compute line only.
LAMBDA_ARCHITECTURE = "x86_64"
# Lambda GB-second list prices, first 6 billion (x86_64) / 7.5 billion (arm64) GB-s a month.
GB_SECOND_PRICE = {"x86_64": 0.0000166667, "arm64": 0.0000133334}

# US East (N. Virginia) list prices, USD.
PRICES: dict[str, float] = {
    "lambda_gb_second": GB_SECOND_PRICE[LAMBDA_ARCHITECTURE],
    "lambda_per_million_requests": 0.20,
    "api_gateway_per_million": 3.50,  # REST API, first 333 million a month (HTTP API: 1.00)
    "dynamodb_per_million_rru": 0.125,  # on-demand, read request units
    "dynamodb_per_million_wru": 0.625,  # on-demand, write request units
    "secrets_manager_per_10k_calls": 0.05,
    "kms_per_10k_requests": 0.03,
    "cloudwatch_logs_per_gb": 0.50,  # ingestion
    "cognito_m2m_per_1k_tokens": 2.25,  # Amazon Cognito machine-to-machine token requests
    "waf_per_million_requests": 0.60,  # AWS WAF, every request it inspects, blocked or not
    # Monthly, whatever the traffic:
    "secrets_manager_per_secret_month": 0.40,
    "kms_per_key_month": 1.00,
    "waf_web_acl_month": 5.00,
    "waf_rule_month": 1.00,
}

ASSUMPTIONS: dict[str, float] = {
    "memory_mb": 128,  # replaced by the packaged template's MemorySize when `make bench` packaged the app
    "full_vcpu_memory_mb": 1769,  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
    "cpu_speed_factor": 1.0,  # Lambda core time per unit of this machine's core time (>1: Lambda is slower)
    "aws_call_ms": 5.0,  # one DynamoDB / Secrets Manager round trip from Lambda, SDK work included
    "requests_per_cold_start": 10_000,
    "container_requests_per_second": 10,  # how busy one warm container is (cache refreshes are per second)
    "key_cache_seconds": 300,  # KEY_CACHE_SECONDS
    "client_cache_seconds": 60,  # CLIENT_CACHE_SECONDS
    "platform_log_bytes": 250,  # Lambda's START / END / REPORT lines; the app's own lines are measured
    "cold_start_ms": 0,  # 0: the bench's measured time to a first token in a fresh process
    "secrets": 2,  # signing keys and pepper
    "kms_keys": 1,
    # The customer key rotates yearly (EnableKeyRotation); KMS bills its first two rotated versions like keys, for
    # good: 0 in the first year, 1 in the second, 2 from the third (later rotations are free).
    "kms_rotated_versions": 0,
    "waf_rules": 5,  # infra/waf.yaml's rate-based rules
}

# The requests one browser sign-in makes with the default pages, by scenario name.
SIGN_IN_STEPS: tuple[str, ...] = (
    "authorize (redirect to login)",
    "login page",
    "login submit",
    "authorize (after login)",
    "consent page",
    "consent submit",
    "authorize (after consent)",
    "authorization_code exchange",
)

MILLION = 1_000_000
DEFAULT_RESULTS = Path(__file__).resolve().parent.parent / ".local" / "bench" / "results.json"


# --------------------------------------------------------------------------- request units


def _transaction_units(params: Mapping[str, Any]) -> float:
    return 2.0 * len(params.get("TransactItems", []))


def request_units(calls: Iterable[Any]) -> tuple[float, float]:
    """DynamoDB (read, write) request units of recorded calls (``bench.counting.Call``)."""
    read = write = 0.0
    for call in calls:
        if call.service != "dynamodb":
            continue
        params, operation = call.params, call.operation
        consistent = 1.0 if params.get("ConsistentRead") else 0.5
        if operation in ("GetItem", "Query", "Scan"):
            read += consistent
        elif operation == "BatchGetItem":
            read += sum(len(table["Keys"]) for table in params["RequestItems"].values())
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            write += 1
        elif operation == "BatchWriteItem":
            write += sum(len(items) for items in params["RequestItems"].values())
        elif operation == "TransactWriteItems":
            write += _transaction_units(params)
        elif operation == "TransactGetItems":
            read += _transaction_units(params)
    return read, write


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Breakdown:
    """Dollars per million requests of one scenario."""

    lambda_compute: float
    lambda_requests: float
    api_gateway: float
    dynamodb: float
    secrets_and_kms: float
    logs: float
    billed_ms: int

    @property
    def total(self) -> float:
        return (
            self.lambda_compute + self.lambda_requests + self.api_gateway + self.dynamodb + self.secrets_and_kms
        ) + self.logs


def cpu_factor(assumptions: Mapping[str, float]) -> float:
    """How much longer CPU work takes in Lambda than here: the memory's CPU share, times core speed."""
    share = min(1.0, assumptions["memory_mb"] / assumptions["full_vcpu_memory_mb"])
    return assumptions["cpu_speed_factor"] / share


def billed_ms(row: Mapping[str, Any], assumptions: Mapping[str, float]) -> int:
    own_us = row["handler_us"] - (row["raw_us"] or 0.0)
    wall_ms = max(own_us, 0.0) / 1000 * cpu_factor(assumptions) + row["calls"] * assumptions["aws_call_ms"]
    return max(1, math.ceil(wall_ms))


def _cached_calls(row: Mapping[str, Any]) -> Counter[str]:
    """Calls a cold container makes that a warm one skips: what its caches save."""
    return Counter(row["cold_operations"]) - Counter(row["operations"])


def _amortised(row: Mapping[str, Any], prices: Mapping[str, float], assumptions: Mapping[str, float]) -> float:
    """Per million requests: cold starts' extra calls and the caches' periodic re-reads."""
    cold_starts = MILLION / assumptions["requests_per_cold_start"]
    busy = assumptions["container_requests_per_second"]
    cached = _cached_calls(row)
    secret_reads = cached["secretsmanager.GetSecretValue"]
    table_reads = sum(n for name, n in cached.items() if name.startswith("dynamodb."))
    key_refreshes = min(secret_reads, 1) * MILLION / (busy * assumptions["key_cache_seconds"])
    secret_calls = secret_reads * cold_starts + key_refreshes
    table_calls = table_reads * (cold_starts + MILLION / (busy * assumptions["client_cache_seconds"]))
    return (
        secret_calls * prices["secrets_manager_per_10k_calls"] / 10_000
        + secret_calls * prices["kms_per_10k_requests"] / 10_000  # Secrets Manager decrypts with the KMS key
        + table_calls * prices["dynamodb_per_million_rru"] / MILLION
    )


def _init_compute(row: Mapping[str, Any], assumptions: Mapping[str, float], measured_cold_ms: float) -> float:
    """Lambda seconds of cold starts per million requests (the init phase is billed)."""
    cold_ms = assumptions["cold_start_ms"] or measured_cold_ms
    cold_calls = sum(row["cold_operations"].values())
    init_ms = cold_ms * cpu_factor(assumptions) + cold_calls * assumptions["aws_call_ms"]
    return MILLION / assumptions["requests_per_cold_start"] * init_ms / 1000


def price(
    row: Mapping[str, Any], prices: Mapping[str, float], assumptions: Mapping[str, float], measured_cold_ms: float
) -> Breakdown:
    gb = assumptions["memory_mb"] / 1024
    ms = billed_ms(row, assumptions)
    lambda_seconds = MILLION * ms / 1000 + _init_compute(row, assumptions, measured_cold_ms)
    dynamodb = (
        row["read_units"] * prices["dynamodb_per_million_rru"] + row["write_units"] * prices["dynamodb_per_million_wru"]
    )
    amortised = _amortised(row, prices, assumptions)
    return Breakdown(
        lambda_compute=lambda_seconds * gb * prices["lambda_gb_second"],
        lambda_requests=prices["lambda_per_million_requests"],
        api_gateway=prices["api_gateway_per_million"],
        dynamodb=dynamodb,
        secrets_and_kms=amortised,
        logs=MILLION
        * (assumptions["platform_log_bytes"] + row.get("log_bytes", 0.0))
        / 1e9
        * prices["cloudwatch_logs_per_gb"],
        billed_ms=ms,
    )


def monthly_fixed(prices: Mapping[str, float], assumptions: Mapping[str, float]) -> float:
    return (
        assumptions["secrets"] * prices["secrets_manager_per_secret_month"]
        + (assumptions["kms_keys"] + assumptions["kms_rotated_versions"]) * prices["kms_per_key_month"]
    )


# --------------------------------------------------------------------------- report


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:.4f}"


def cost_table(results: Mapping[str, Any], prices: Mapping[str, float], assumptions: Mapping[str, float]) -> list[str]:
    """Markdown: dollars per million requests of every measured scenario, and per million sign-ins."""
    cold_ms = float(results.get("coldstart", {}).get("first_token_ms") or 0.0)
    rows = {row["name"]: row for row in results["scenarios"]}
    lines = [
        "| per million | Lambda | API Gateway | DynamoDB | Secrets Manager + KMS | logs | **total** | billed ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        cost = price(row, prices, assumptions, cold_ms)
        lines.append(
            f"| {name} | {_money(cost.lambda_compute + cost.lambda_requests)} | {_money(cost.api_gateway)} "
            f"| {_money(cost.dynamodb)} | {_money(cost.secrets_and_kms)} | {_money(cost.logs)} "
            f"| **{_money(cost.total)}** | {cost.billed_ms} |"
        )
    lines += ["", *_comparison(rows, prices, assumptions, cold_ms)]
    architecture = results.get("package", {}).get("architecture")
    if architecture and architecture != LAMBDA_ARCHITECTURE and architecture in GB_SECOND_PRICE:
        price_flag = f"--lambda-gb-second {GB_SECOND_PRICE[architecture]:.10f}"
        lines.append(
            f"- priced as {LAMBDA_ARCHITECTURE}, but the package is built for {architecture} (`lambda_architecture` "
            f"in .chalice/config.json); {architecture} prices: `{price_flag}`"
        )
    return lines


def _comparison(
    rows: Mapping[str, Mapping[str, Any]], prices: Mapping[str, float], assumptions: Mapping[str, float], cold_ms: float
) -> list[str]:
    cognito = prices["cognito_m2m_per_1k_tokens"] * 1000
    lines = []
    token_rows = [name for name in rows if name.startswith("client_credentials")]
    for name in token_rows:
        total = price(rows[name], prices, assumptions, cold_ms).total
        lines.append(
            f"- {name}: **{_money(total)}** per million tokens; Cognito M2M: {_money(cognito)} "
            f"({cognito / total:,.0f}× as much)"
        )
    measured = [step for step in SIGN_IN_STEPS if step in rows]
    missing = [step for step in SIGN_IN_STEPS if step not in rows]
    total = sum(price(rows[step], prices, assumptions, cold_ms).total for step in measured)
    if missing:
        lines.append(
            f"- per million sign-ins: not measured yet (no scenario for: {', '.join(missing)}); "
            f"the {len(measured)} measured requests of a sign-in come to {_money(total)}"
        )
    else:
        lines.append(f"- per million sign-ins ({len(SIGN_IN_STEPS)} requests each): **{_money(total)}**")
    lines.append(
        f"- fixed, whatever the traffic: {_money(monthly_fixed(prices, assumptions))} a month "
        f"({assumptions['secrets']:.0f} secrets, {assumptions['kms_keys']:.0f} KMS key, "
        f"{assumptions['kms_rotated_versions']:.0f} rotated key versions) plus DynamoDB storage; "
        f"the key's first two yearly rotations add {_money(prices['kms_per_key_month'])} a month each "
        f"(`--kms-rotated-versions`)"
    )
    return lines


# --------------------------------------------------------------------------- abuse

DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def writes(operations: Mapping[str, int]) -> int:
    """DynamoDB write calls among a request's operations (``dynamodb.PutItem``: 2 ...)."""
    return sum(count for name, count in operations.items() if name.partition(".")[2] in DYNAMODB_WRITES)


def abuse_table(results: Mapping[str, Any], prices: Mapping[str, float], assumptions: Mapping[str, float]) -> list[str]:
    """Markdown: what a million of each abusive request costs without the WAF, blocked by it, and let through."""
    rows = [row for row in results["scenarios"] if row.get("abuse")]
    if not rows:
        return []
    cold_ms = float(results.get("coldstart", {}).get("first_token_ms") or 0.0)
    waf = prices["waf_per_million_requests"]
    lines = [
        "| abusive request | AWS calls | writes | what the attacker sends | no WAF | blocked by the WAF "
        "| let through by the WAF |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        total = price(row, prices, assumptions, cold_ms).total
        lines.append(
            f"| {row['name']} | {row['calls']} | {writes(row['operations'])} | {row['abuse']} "
            f"| {_money(total)} | {_money(waf)} | {_money(total + waf)} |"
        )
    monthly = prices["waf_web_acl_month"] + assumptions["waf_rules"] * prices["waf_rule_month"]
    return [
        *lines,
        "",
        f"- per million requests, each from a new address (no per-address limit in the app makes it cheaper); "
        f"a blocked request costs the WAF's {_money(waf)} per million only (API Gateway, Lambda and DynamoDB "
        f"never see it); the WAF itself costs {_money(monthly)} a month (a web ACL and "
        f"{assumptions['waf_rules']:.0f} rules)",
    ]


def inputs_line(prices: Mapping[str, float], assumptions: Mapping[str, float]) -> str:
    shown = ", ".join(f"{name}={value:g}" for name, value in {**assumptions}.items())
    return f"Assumptions: {shown}. Prices: " + ", ".join(f"{name}={value:g}" for name, value in prices.items()) + "."


# --------------------------------------------------------------------------- command line


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_inputs(argv: Sequence[str]) -> tuple[argparse.Namespace, dict[str, float], dict[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="a saved `make bench` run")
    for table in (PRICES, ASSUMPTIONS):
        for name, value in table.items():
            parser.add_argument(_flag(name), type=float, default=None, help=f"default {value:g}")
    args = parser.parse_args(argv)
    prices = {name: _given(args, name, value) for name, value in PRICES.items()}
    assumptions = {name: _given(args, name, value) for name, value in ASSUMPTIONS.items()}
    return args, prices, assumptions


def _given(args: argparse.Namespace, name: str, default: float) -> float:
    value = getattr(args, name)
    return default if value is None else value


def configured(assumptions: dict[str, float], results: Mapping[str, Any], argv: Sequence[str]) -> dict[str, float]:
    """The packaged function's memory, unless a flag says otherwise."""
    memory = results.get("package", {}).get("memory_mb")
    if memory and _flag("memory_mb") not in argv:
        return {**assumptions, "memory_mb": float(memory)}
    return assumptions


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, prices, assumptions = parse_inputs(argv)
    if not args.results.exists():
        print(f"no bench results at {args.results}: run `make bench` first", file=sys.stderr)
        return 2
    results = json.loads(args.results.read_text())
    assumptions = configured(assumptions, results, argv)
    abuse = abuse_table(results, prices, assumptions)
    tables = [*cost_table(results, prices, assumptions), "", *([*abuse, ""] if abuse else [])]
    print("\n".join([*tables, inputs_line(prices, assumptions)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
