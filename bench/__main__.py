"""``python -m bench`` (``make bench``): measure, save ``.local/bench/results.json``, print the tables.

Three phases, each on the embedded AWS with dummy credentials:

1. in this process, under moto's ``mock_aws``: every scenario of
   :data:`bench.scenarios.SCENARIOS`, and sign / verify per algorithm;
2. ``chalice package`` of a copy of the project;
3. with moto serving on loopback: fresh processes importing the app and
   getting a first token, from the repository and from the unzipped package.

``--compare`` runs the side-by-side with panva's oidc-provider instead
(:mod:`bench.compare`; ``make bench`` runs both).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import cost, report
from bench.coldstart import REPOSITORY, ColdStartError, Layout, first_token, import_ratio, runtime_sdk
from bench.package import build, default_stage, unzip
from bench.scenarios import SCENARIOS, Scenario
from bench.world import form_event, use_dummy_aws

RESULTS_DIR = cost.DEFAULT_RESULTS.parent
MACHINE_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="timed requests per scenario (default 200)")
    parser.add_argument("--processes", type=int, default=7, help="fresh processes per cold-start figure")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu (default): the thread's CPU time, steady on a busy machine; wall: elapsed time",
    )
    parser.add_argument("--stage", default=None, help="stage to package (default: prod, else dev)")
    parser.add_argument(
        "--skip-requests",
        action="store_true",
        help="skip the per-request rows and signing (with --skip-package: only the repository's cold start)",
    )
    parser.add_argument("--skip-package", action="store_true")
    parser.add_argument("--skip-coldstart", action="store_true")
    parser.add_argument("--results", type=Path, default=cost.DEFAULT_RESULTS)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="only the side-by-side: CPU per JWT client_credentials token, oidc-provider 9 against Tollgate",
    )
    parser.add_argument("--compare-rounds", type=int, default=5, help="alternating rounds per side (default 5)")
    parser.add_argument("--compare-tokens", type=int, default=2000, help="tokens per round (default 2000)")
    parser.add_argument(
        "--compare-connections", type=int, default=8, help="keep-alive connections driving oidc-provider (default 8)"
    )
    return parser.parse_args(argv)


def _plain(value: Any) -> Any:
    """Figures as JSON-ready dicts, with the derived ratio spelled out."""
    data = dataclasses.asdict(value)
    if hasattr(value, "overhead_ratio"):
        data["overhead_ratio"] = value.overhead_ratio
    return data


# --------------------------------------------------------------------------- phase 1


def in_process(
    scenarios: Sequence[Scenario], samples: int, clock_name: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from bench.counting import Recorder
    from bench.crypto import measure_crypto
    from bench.measure import CLOCKS, measure
    from bench.world import World, in_process_aws

    recorder = Recorder()
    clock = CLOCKS[clock_name]
    rows = []
    with recorder.installed():
        from app import app

        for scenario in scenarios:
            started = time.perf_counter()
            # A fresh embedded AWS per row: moto's index queries scan the whole table, so the
            # items earlier rows left behind would slow later rows down (DynamoDB's would not).
            with in_process_aws():
                recorder.forget_clients()
                rows.append(_plain(measure(World(app), recorder, scenario, samples, clock)))
            print(f"  {scenario.name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        with in_process_aws():
            crypto = [_plain(figures) for figures in measure_crypto(samples, clock)]
    return rows, crypto


# --------------------------------------------------------------------------- phases 2 and 3


def packaged_layout(package: dict[str, Any], archive: Path | None, workdir: Path) -> Layout | None:
    """The unzipped package beside a stand-in for the runtime's boto3, if this machine can run it."""
    if archive is None:
        return None
    here = MACHINE_ARCHITECTURES.get(platform.machine().lower(), platform.machine())
    if package.get("architecture") != here:
        package["notes"] = [f"not run here: the package is for {package.get('architecture')}, this machine is {here}"]
        return None
    code = unzip(archive, workdir / "unzipped")
    runtime = runtime_sdk(workdir / "runtime")
    return Layout("deployment package + runtime boto3", (str(code), str(runtime)), site=False)


def cold_starts(layouts: Sequence[Layout], processes: int, workdir: Path) -> dict[str, Any]:
    """Fresh processes against moto served on loopback (the in-process mock cannot reach them)."""
    import os

    from bench.world import register_machine_client
    from infra.local import local_aws

    measured: list[dict[str, Any]] = []
    with local_aws(0, workdir / "moto-state", save_interval=3600):
        client = register_machine_client("jwt")
        event = form_event("/oauth2/token", {"grant_type": "client_credentials"}, client)
        env = dict(os.environ)
        failures = []
        for layout in layouts:
            try:
                first = first_token(layout, event, env, max(3, processes // 2))
                imports = import_ratio(layout, processes, env)
            except ColdStartError as error:
                failures.append(str(error))
                continue
            measured.append({"name": layout.name, "imports": _plain(imports), "first_token": _plain(first)})
            print(f"  cold start, {layout.name}: done", file=sys.stderr)
    notes = [
        "first token: from the start of `import app` to the response, against moto on loopback "
        "(pepper, key set and client read, keys parsed, token signed)",
        *(f"**failed**: {failure}" for failure in failures),
    ]
    packaged = [layout for layout in measured if layout["name"] != REPOSITORY.name]
    for layout in packaged:
        first = layout["first_token"]
        notes.append(
            f"{layout['name']}: imports with no site-packages and answers 200; botocore from "
            f"`{_short(first['sdk_from'])}`, pynamodb from `{_short(first['pynamodb_from'])}`"
        )
    chosen = packaged or measured
    return {
        "layouts": measured,
        "first_token_ms": chosen[0]["first_token"]["first_token_ms"] if chosen else None,
        "notes": notes,
    }


def _short(path: str | None) -> str:
    """``runtime/botocore/__init__.py``: where a module came from, without the temporary directory."""
    parts = Path(path or "?").parts
    return "/".join(parts[-3:])


def packaged_and_cold(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    package: dict[str, Any] = {}
    coldstart: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp:
        workdir = Path(tmp)
        layouts = [REPOSITORY]
        if not args.skip_package:
            figures, archive = build(args.stage or default_stage(), workdir / "package")
            package = dataclasses.asdict(figures)
            print(f"  package: {'done' if figures.ok else figures.error}", file=sys.stderr)
            layout = packaged_layout(package, archive, workdir)
            if layout is not None:
                layouts.append(layout)
        if not args.skip_coldstart:
            coldstart = cold_starts(layouts, args.processes, workdir)
    return package, coldstart


# --------------------------------------------------------------------------- main


def side_by_side(args: argparse.Namespace) -> int:
    """``--compare``: the table on stdout, saved beside the results; a machine without node says why."""
    from bench.compare import compare
    from bench.compare.figures import plain, render
    from bench.compare.node import NodeUnavailable

    print(f"bench: side by side, {args.compare_rounds} rounds of {args.compare_tokens} tokens", file=sys.stderr)
    try:
        comparison = compare(args.compare_rounds, args.compare_tokens, args.compare_connections)
    except NodeUnavailable as error:
        print(f"side by side not run: {error}")
        return 0
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_name("compare.json").write_text(json.dumps(plain(comparison), indent=2))
    text = render(comparison)
    args.results.with_name("compare.md").write_text(text)
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    use_dummy_aws()
    if args.compare:
        return side_by_side(args)
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": report.machine(), "clock": args.clock}
    scenarios = [scenario for scenario in SCENARIOS if args.only.lower() in scenario.name.lower()]
    scenarios = [] if args.skip_requests else scenarios
    print(f"bench: {len(scenarios)} scenarios, {args.samples} samples each", file=sys.stderr)
    results["scenarios"], results["crypto"] = (
        ([], []) if args.skip_requests else in_process(scenarios, args.samples, args.clock)
    )
    results["package"], results["coldstart"] = packaged_and_cold(args)
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    assumptions = cost.configured(dict(cost.ASSUMPTIONS), results, [])
    text = report.render(results, cost.PRICES, assumptions)
    args.results.with_name("report.md").write_text(text)
    print(text)
    print(f"({results['seconds']} s; saved {args.results})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
