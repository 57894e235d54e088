"""``python -m bench --compare``: the figures it prints are computed right, and Tollgate's side runs.

No npm and no node here except the last test (which runs only where
``.local/compare/node_modules`` exists): the ``/proc`` reader, the medians
and ratio, the token check, the table and Tollgate's rounds run on every
``make test``.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest

from bench.compare import figures
from bench.compare.figures import Comparison, Row, Side

REPO = Path(__file__).resolve().parents[2]
AUDIENCE, SCOPE = "https://api.example.com", "invoices:read"


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _token_response(alg: str = "ES256", **claims: object) -> str:
    header = {"alg": alg, "typ": "at+jwt", "kid": "k"}
    payload = {"aud": AUDIENCE, "scope": SCOPE, **claims}
    return json.dumps({"access_token": f"{_b64(header)}.{_b64(payload)}.c2ln", "token_type": "Bearer"})


# --------------------------------------------------------------------------- /proc


def test_proc_stat_reader_counts_user_and_system_ticks_after_a_command_name_with_spaces_and_parentheses():
    # proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    line = "4242 (node (a) b) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 11 0 1 2 3"
    assert figures.cpu_seconds_from_stat(line, ticks_per_second=100) == 3.0


@pytest.mark.parametrize("line", ["", "4242 node S 1", "4242 (node) S 1 2 3"])
def test_proc_stat_reader_refuses_what_is_not_a_stat_line(line):
    with pytest.raises(ValueError, match="not a /proc"):
        figures.cpu_seconds_from_stat(line, 100)


def test_process_cpu_time_from_proc_grows_with_the_work_this_process_does():
    before, process_before = figures.process_cpu_seconds(os.getpid()), time.process_time()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    spent = figures.process_cpu_seconds(os.getpid()) - before
    assert abs(spent - (time.process_time() - process_before)) <= 0.05  # within a few clock ticks


# --------------------------------------------------------------------------- maths


def test_the_ratio_is_oidc_providers_median_cpu_per_token_over_tollgates():
    row = Row("ES256", Side("oidc-provider", (900.0, 700.0, 800.0)), Side("Tollgate", (500.0, 300.0, 400.0, 410.0)), 10)
    assert row.oidc_provider.median_us == 800.0
    assert row.tollgate.median_us == 405.0  # even count: the mean of the middle two
    assert row.ratio == pytest.approx(800 / 405)
    assert figures.per_token_us(cpu_seconds=0.5, tokens=1000) == 500.0


@pytest.mark.parametrize(("cpu", "tokens"), [(0.0, 0), (1.0, -1)])
def test_no_tokens_is_an_error_not_a_division_by_zero(cpu, tokens):
    with pytest.raises(ValueError, match="no token"):
        figures.per_token_us(cpu, tokens)


def test_a_side_that_measured_no_cpu_is_an_error_not_an_infinite_ratio():
    with pytest.raises(ValueError, match="no CPU time"):
        figures.ratio(800.0, 0.0)


def test_rounds_alternate_and_the_first_side_alternates_too():
    assert figures.interleave(3, ("a", "b")) == ["a", "b", "b", "a", "a", "b"]


# --------------------------------------------------------------------------- the token both sides must issue


def test_the_expected_jwt_access_token_passes():
    assert figures.token_problem(200, _token_response(), alg="ES256", audience=AUDIENCE, scope=SCOPE) is None
    listed = _token_response(aud=[AUDIENCE])  # RFC 7519 §4.1.3: one audience may be a one-element array
    assert figures.token_problem(200, listed, alg="ES256", audience=AUDIENCE, scope=SCOPE) is None


@pytest.mark.parametrize(
    ("status", "body", "found"),
    [
        (401, '{"error":"invalid_client"}', "status 401"),
        (200, '{"access_token":"opaque-value"}', "not a JWT"),
        (200, "<html>", "not a JWT"),
        (200, _token_response(alg="RS256"), "'alg': 'RS256'"),
        (200, _token_response(aud="https://other.example"), "'aud'"),
        (200, _token_response(scope="invoices:read invoices:write"), "'scope'"),
    ],
)
def test_a_wrong_answer_is_named(status, body, found):
    problem = figures.token_problem(status, body, alg="ES256", audience=AUDIENCE, scope=SCOPE)
    assert problem is not None and found in problem


# --------------------------------------------------------------------------- the table


def test_the_table_shows_medians_spread_ratio_machine_and_what_is_not_comparable():
    rows = (
        Row("RS256", Side("oidc-provider", (1300.0, 1400.0)), Side("Tollgate", (650.0, 650.0)), 2000, 1000.0),
        Row("ES256", Side("oidc-provider", (1000.0, 1100.0, 1050.0)), Side("Tollgate", (300.0, 350.0, 320.0)), 2000),
    )
    machine = {"date": "2026-12-02 00:00 UTC", "cpu": "Some CPU", "cores": 2, "load_average": [0.5, 0.5, 0.5]}
    text = figures.render(Comparison(rows, machine, {"oidc-provider": "9.13.3"}, {"server": 1, "driver": 0}, 8))
    assert "| RS256 | 1,350 µs (1,300–1,400) | 650 µs (650) | 2.08 | 1,000 µs | 1.35 | 2 × 2,000 |" in text
    assert "| ES256 | 1,050 µs (1,000–1,100) | 320 µs (300–350) | 3.28 | — | — | 3 × 2,000 |" in text
    assert "2026-12-02 00:00 UTC, Some CPU, nproc 2" in text and "oidc-provider 9.13.3" in text
    assert "on core 1" in text and "over 8 keep-alive HTTP connection(s) at once from core 0" in text
    assert "Not comparable:" in text and "API Gateway parses HTTP" in text and "Koa" in text
    saved = figures.plain(Comparison(rows, machine, {}, {"server": 1, "driver": 0}))
    assert json.loads(json.dumps(saved))["rows"][1]["ratio"] == pytest.approx(1050 / 320)
    assert json.loads(json.dumps(saved))["rows"][0]["ratio_at_best"] == pytest.approx(1350 / 1000)


def test_the_ratio_at_best_is_oidc_providers_cpu_over_the_signature_alone():
    """With the signature alone costing most of oidc-provider's token, no Tollgate code can reach a ratio above it."""
    row = Row("RS256", Side("oidc-provider", (1725.0,)), Side("Tollgate", (1450.0,)), 10, signature_us=1150.0)
    assert row.ceiling == pytest.approx(1.5)
    assert row.ratio < row.ceiling
    assert Row("ES256", row.oidc_provider, row.tollgate, 10).ceiling is None  # not measured: no figure


# --------------------------------------------------------------------------- Tollgate's side, always


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tollgates_round_issues_the_same_jwt_on_the_pinned_core_and_counts_its_cpu(aws, alg):
    from app import app
    from bench.compare import tollgate
    from bench.world import World, settings_env

    request = tollgate.token_request()
    assert "scope=invoices%3Aread" in request.body and "resource=https%3A%2F%2Fapi.example.com" in request.body
    affinity = os.sched_getaffinity(0)
    core = max(affinity)
    with settings_env({"ACCESS_TOKEN_SIGNING_ALG": alg}):
        per_token = tollgate.measure_round(World(app), request, alg, tokens=20, core=core)
        assert 0 < per_token < 100_000
        other = "ES256" if alg == "RS256" else "RS256"
        with pytest.raises(RuntimeError, match=f"Tollgate {other}: unexpected .*'alg': '{alg}'"):
            tollgate.measure_round(World(app), request, other, tokens=2, core=core)
        assert 0 < tollgate.signature_us(alg, core, samples=5) < per_token  # the signature is part of the token
    assert os.sched_getaffinity(0) == affinity  # the pin ends with the round


def _dummy_aws_undone_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """``use_dummy_aws()`` (which the bench calls) sets these: let monkeypatch put them back afterwards."""
    from bench.world import APP_ENV, DUMMY_AWS_ENV

    for name, value in {**DUMMY_AWS_ENV, **APP_ENV}.items():
        monkeypatch.setenv(name, value)


def test_without_node_the_side_by_side_says_why_and_make_bench_goes_on(monkeypatch, tmp_path, capsys):
    from bench.__main__ import main

    _dummy_aws_undone_after(monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    assert main(["--compare", "--results", str(tmp_path / "results.json")]) == 0
    assert "side by side not run: `npm` is not on PATH" in capsys.readouterr().out


# --------------------------------------------------------------------------- both sides, where npm installed them


@pytest.mark.skipif(
    not (REPO / ".local" / "compare" / "node_modules" / "oidc-provider").is_dir(),
    reason="oidc-provider not installed (python -m bench --compare installs it)",
)
def test_both_sides_issue_the_token_and_the_table_has_a_ratio_per_algorithm(monkeypatch):
    from bench import compare
    from bench.world import use_dummy_aws

    _dummy_aws_undone_after(monkeypatch)
    use_dummy_aws()
    comparison = compare.compare(rounds=1, tokens=200, connections=2, algorithms=("ES256",))
    (row,) = comparison.rows
    assert row.alg == "ES256" and row.ratio > 0
    assert comparison.versions["oidc-provider"].startswith("9.")
