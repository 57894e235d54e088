"""Cold start: what a fresh Lambda container pays before its first answer.

Measured in fresh interpreters, never in this one (whose imports are warm):

- ``import app`` ÷ ``import boto3`` (goal ≤ 1.3).  Every Python Lambda
  function can import the SDK; importing Tollgate's handler should cost about
  that and no more.  The two alternate, so both see the same machine.
- a fresh process's time from ``import app`` to its first client_credentials
  token: imports, AWS clients, reading the pepper, the key set and the
  client, parsing keys, signing.  Its AWS is the embedded one served by moto
  on loopback (the in-process mock cannot reach another process).

The same child program also runs on the unzipped deployment package with
only the runtime's boto3 beside it (:mod:`bench.package`): it proves the
package imports and answers, and measures the cold start Lambda would see.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# Runs in the fresh interpreter: argv[1] is {"paths": [...], "module": "app", "event": {...} | null}.
CHILD = """
import json, sys, time
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["paths"]
start = time.perf_counter()
module = __import__(spec["module"])
result = {"import_ms": (time.perf_counter() - start) * 1000}
if spec.get("event"):
    class Context:
        function_name, memory_limit_in_mb, aws_request_id, invoked_function_arn = "cold", 1024, "cold", ""
        def get_remaining_time_in_millis(self):
            return 30000
    response = module.app(spec["event"], Context())
    first = time.perf_counter()
    result.update(first_token_ms=(first - start) * 1000, status=response["statusCode"], body=response["body"])
    module.app(spec["event"], Context())
    result["second_token_ms"] = (time.perf_counter() - first) * 1000
    result["sdk_from"] = getattr(sys.modules.get("botocore"), "__file__", None)
    result["pynamodb_from"] = getattr(sys.modules.get("pynamodb"), "__file__", None)
print(json.dumps(result))
"""


@dataclass(frozen=True)
class Layout:
    """Where a fresh interpreter finds the code: the repository with the venv, or a package with the runtime."""

    name: str
    paths: tuple[str, ...]
    site: bool = True  # False: no site-packages at all (-S), only ``paths``

    def command(self) -> list[str]:
        flags = ["-I"] if self.site else ["-I", "-S"]
        return [sys.executable, *flags, "-c", CHILD]


REPOSITORY = Layout("repository", (str(REPO_ROOT),))


def run_child(layout: Layout, module: str, event: Mapping[str, Any] | None, env: Mapping[str, str]) -> dict[str, Any]:
    spec = json.dumps({"paths": list(layout.paths), "module": module, "event": event})
    done = subprocess.run(  # noqa: S603 - our own interpreter running our own program
        [*layout.command(), spec], capture_output=True, text=True, env=dict(env), timeout=120, check=False
    )
    if done.returncode != 0:
        raise ColdStartError(f"{layout.name}: `import {module}` failed: {_last_line(done.stderr)}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


class ColdStartError(RuntimeError):
    """A fresh process could not import the app or get a token (the message says why, in one line)."""


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":", 1)[0]]
    return (errors or lines or ["no output"])[-1]


@dataclass(frozen=True)
class ImportFigures:
    layout: str
    app_ms: float
    boto3_ms: float
    samples: int

    @property
    def ratio(self) -> float:
        return self.app_ms / self.boto3_ms


def import_ratio(layout: Layout, samples: int, env: Mapping[str, str] | None = None) -> ImportFigures:
    env = env or os.environ
    app_ms, boto3_ms = [], []
    for _ in range(samples):
        app_ms.append(run_child(layout, "app", None, env)["import_ms"])
        boto3_ms.append(run_child(layout, "boto3", None, env)["import_ms"])
    return ImportFigures(layout.name, statistics.median(app_ms), statistics.median(boto3_ms), samples)


@dataclass(frozen=True)
class FirstToken:
    layout: str
    import_ms: float
    first_token_ms: float  # from the start of `import app` to the first token's response
    second_token_ms: float
    samples: int
    sdk_from: str
    pynamodb_from: str


def first_token(layout: Layout, event: Mapping[str, Any], env: Mapping[str, str], samples: int) -> FirstToken:
    runs = []
    for _ in range(samples):
        run = run_child(layout, "app", event, env)
        if run["status"] != 200:
            raise ColdStartError(
                f"{layout.name}: the first token request answered {run['status']}: {_last_line(run['stderr'])}"
            )
        runs.append(run)
    return FirstToken(
        layout=layout.name,
        import_ms=statistics.median(run["import_ms"] for run in runs),
        first_token_ms=statistics.median(run["first_token_ms"] for run in runs),
        second_token_ms=statistics.median(run["second_token_ms"] for run in runs),
        samples=samples,
        sdk_from=runs[0]["sdk_from"],
        pynamodb_from=runs[0]["pynamodb_from"],
    )


def runtime_sdk(directory: Path, packages: Sequence[str] | None = None) -> Path:
    """A stand-in for the Lambda Python runtime's own packages: boto3 and what it needs, nothing else.

    Links to this venv's copies, so it is built offline in a moment.
    """
    import importlib.util

    names = packages or ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed: cannot stand in for the Lambda runtime")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = directory / source.name
        if not link.exists():
            link.symlink_to(source)
    return directory
