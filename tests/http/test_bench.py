"""``make bench`` counts what the tests count, every scenario is at its floor, the package stays lean.

No timings here (machines are noisy): only call counts, the packaging rules
the deployment size depends on, and that the bench and the cost model run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recorder(aws):
    """The bench's own counter, hooked into every AWS client created from now on."""
    from bench.counting import Recorder
    from chalicelib import services

    with Recorder().installed() as installed:
        services.reset()  # clients made before the hook (writing the key set) would go uncounted
        yield installed


@pytest.fixture
def world(recorder, cheap_passwords):
    from app import app
    from bench.world import World

    return World(app)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_every_scenario_costs_its_floor_and_the_bench_counts_what_the_tests_count(world, recorder, aws, scenario):
    from bench.measure import count_calls

    aws.reset()
    requests = count_calls(world, recorder, scenario, requests=2)
    counted_by_tests = aws.count  # every call since the reset, preparation included
    assert [len(calls) for calls in requests] == [scenario.floor] * 2, requests
    assert counted_by_tests >= sum(len(calls) for calls in requests)


def test_the_bench_and_the_aws_calls_fixture_count_the_same_request_alike(world, recorder, aws):
    from bench.measure import count_calls

    scenario = next(s for s in SCENARIOS if s.name == "introspection, JWT")
    events = scenario.requests(world)
    world.call(next(events))  # warm
    event = next(events)
    aws.reset()
    with recorder.recording() as calls:
        world.handle(event)
    assert aws.by_operation() == {call.name: 1 for call in calls} and len(calls) == aws.count == 1
    assert count_calls(world, recorder, scenario, requests=1)[0][0].name == "dynamodb.BatchGetItem"


def test_a_recorded_conditional_write_replays_against_the_item_as_it_was(world, recorder):
    """Single use must not make the raw baseline look cheap: the replay's consume succeeds again."""
    from bench.measure import RawClients, count_calls

    scenario = next(s for s in SCENARIOS if s.name == "authorization_code exchange")
    (calls,) = count_calls(world, recorder, scenario, requests=1)
    consume = next(call for call in calls if call.operation == "UpdateItem")
    assert consume.before and consume.before[0].item is not None and "consumed_at" not in consume.before[0].item
    raw = RawClients()
    raw.replay(calls)
    raw.replay(calls)  # a second replay still finds the code unconsumed: no ConditionalCheckFailed
    item = raw.method(consume).__self__.get_item(
        TableName=consume.params["TableName"], Key=consume.params["Key"], ConsistentRead=True
    )["Item"]
    assert "consumed_at" in item


# --------------------------------------------------------------------------- packaging


def _pin(path: Path, name: str) -> str | None:
    for line in path.read_text().splitlines():
        match = re.fullmatch(rf"{name}==(\S+)", line.strip(), flags=re.IGNORECASE)
        if match:
            return match.group(1)
    return None


def test_the_lambda_requirements_leave_the_sdk_to_the_runtime():
    """boto3/botocore ship with the Lambda runtime; as a (transitive) requirement they are 16 MB of zip."""
    for name in ("boto3", "botocore", "pynamodb"):
        assert _pin(REPO / "requirements.txt", name) is None, name


def test_vendored_pynamodb_is_the_pinned_version_without_its_dependencies():
    pinned = _pin(REPO / "requirements-dev.txt", "pynamodb")
    assert pinned, "requirements-dev.txt pins pynamodb (tests import it from the venv)"
    assert (REPO / "vendor" / f"pynamodb-{pinned}.dist-info").is_dir(), "run `make vendor`"
    vendored = {path.name for path in (REPO / "vendor").iterdir()}
    assert not vendored & {"botocore", "boto3", "typing_extensions.py"}, vendored


# --------------------------------------------------------------------------- the commands


def test_the_bench_runs_end_to_end_on_a_tiny_sample(tmp_path):
    results = tmp_path / "results.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--samples=3",
        "--only=discovery",
        "--skip-package",
        "--skip-coldstart",
        f"--results={results}",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "| discovery | 0 (0) ✓" in done.stdout
    assert json.loads(results.read_text())["scenarios"][0]["calls"] == 0


def test_the_bench_can_measure_only_the_cold_start(tmp_path):
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench", "--skip-requests", "--skip-package", "--processes=1"]
    done = subprocess.run(
        [*command, f"--results={results}"], cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    saved = json.loads(results.read_text())
    assert saved["scenarios"] == [] and saved["crypto"] == []
    assert saved["coldstart"]["first_token_ms"] > 0
    assert "| repository |" in done.stdout


def test_the_cost_model_reprices_a_saved_run_with_the_inputs_given(tmp_path):
    row = {
        "name": "client_credentials, JWT RS256",
        "calls": 0,
        "handler_us": 400.0,
        "raw_us": None,
        "read_units": 0.0,
        "write_units": 0.0,
        "operations": {},
        "cold_operations": {"dynamodb.GetItem": 1, "secretsmanager.GetSecretValue": 2},
    }
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"scenarios": [row], "coldstart": {"first_token_ms": 400.0}}))

    def total(*flags: str) -> float:
        command = [sys.executable, "-m", "bench.cost", f"--results={results}", *flags]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
        return float(re.search(r"\*\*\$([\d.,]+)\*\* per million tokens", done.stdout).group(1))

    assert total() - total("--api-gateway-per-million", "1.00") == pytest.approx(2.50, abs=0.011)
    assert total("--memory-mb", "128") < total("--memory-mb", "1769") < total("--memory-mb", "3538")


def test_the_fixed_cost_counts_the_rotated_versions_of_the_customer_key_kms_bills():
    """EnableKeyRotation rotates the key yearly; KMS bills its first two rotated versions $1 a month each, for good."""
    from bench.cost import ASSUMPTIONS, PRICES, cost_table

    results = {"scenarios": [], "coldstart": {}}
    first_year = cost_table(results, PRICES, ASSUMPTIONS)[-1]
    from_year_three = cost_table(results, PRICES, {**ASSUMPTIONS, "kms_rotated_versions": 2})[-1]
    assert "$1.80 a month" in first_year and "$3.80 a month" in from_year_three
    assert "first two yearly rotations" in first_year


# --------------------------------------------------------------------------- abuse


ABUSE = {"abuse: anonymous authorization", "abuse: junk device code", "abuse: failed login"}


def test_the_abusive_requests_have_rows_that_say_what_the_attacker_does():
    rows = {scenario.name: scenario for scenario in SCENARIOS if scenario.abuse}
    assert set(rows) == ABUSE
    assert rows["abuse: failed login"].endpoint == "POST /ui/login"
    assert rows["abuse: junk device code"].endpoint == "POST /oauth2/device/verify"
    assert rows["abuse: anonymous authorization"].endpoint == "GET /oauth2/auth"


@pytest.mark.parametrize("name", sorted(ABUSE))
def test_each_abusive_request_comes_from_a_new_address_so_no_per_address_limit_makes_it_cheaper(world, name):
    """The worst case per request: a botnet, each address under every per-address limit."""
    scenario = next(s for s in SCENARIOS if s.name == name)
    events = scenario.requests(world)
    addresses = {next(events)["requestContext"]["identity"]["sourceIp"] for _ in range(3)}
    assert len(addresses) == 3


def test_the_abuse_table_prices_each_row_without_the_waf_blocked_by_it_and_under_its_limit():
    from bench import cost

    row = {
        "name": "abuse: failed login",
        "calls": 4,
        "handler_us": 200_000.0,
        "raw_us": 4_000.0,
        "read_units": 1.0,
        "write_units": 2.0,
        "operations": {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 2, "dynamodb.Query": 1},
        "cold_operations": {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 2, "dynamodb.Query": 1},
        "abuse": "a wrong password",
    }
    results = {"scenarios": [row, {**row, "name": "login submit", "abuse": ""}]}
    lines = cost.abuse_table(results, cost.PRICES, cost.ASSUMPTIONS)
    (priced,) = [line for line in lines if line.startswith("| abuse: failed login")]
    cells = [cell.strip() for cell in priced.strip("|").split("|")]
    unblocked = cost.price(row, cost.PRICES, cost.ASSUMPTIONS, 0.0).total
    assert cells[1:4] == ["4", "2", "a wrong password"]
    assert cells[-3:] == [f"${unblocked:,.2f}", "$0.60", f"${unblocked + 0.60:,.2f}"]
    assert not any(line.startswith("| login submit") for line in lines)
    assert any("$10.00 a month" in line for line in lines)  # web ACL and its five rules
