"""Two checks that run where the app is imported: under ``chalice deploy``/``package``, and in a Lambda container.

``import app`` is the one thing of ours Chalice runs before it builds a stage
(it imports the app to learn its routes, then reads each function's
``iam_policy_file``), so the deploy check lives here and costs nothing
anywhere else:

- ``chalice deploy --stage S`` or ``chalice package --stage S`` on a checkout
  where ``make infra STAGE=S`` never ran would die in Chalice with a
  traceback about a missing policy file, or ship a package without PynamoDB
  (``vendor/``, which is built, not committed); a ``chalice deploy`` with
  the logs-only policy files ``make package`` writes would deploy functions
  that may not touch their tables. Each stops with one line naming
  ``make infra`` instead.
- A Lambda container whose package lacks PynamoDB (built without
  ``vendor/``) would fail on its first table read with an ``ImportError``
  deep in a request; it says so once, at start, in one JSON log line.
  ``importlib.util.find_spec`` only looks: PynamoDB (and botocore under it)
  is still imported on first use, never at a cold start's ``import app``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
BUILDING_COMMANDS = ("deploy", "package")
CHALICE_DEFAULT_STAGE = "dev"
STORAGE_PACKAGE = "pynamodb"  # vendored into vendor/ (Makefile), so a package built without it lacks it


def chalice_building() -> tuple[str, str] | None:
    """``(command, stage)`` when the chalice CLI imports the app to deploy or package a stage; else None."""
    if "chalice.cli" not in sys.modules:
        return None  # a Lambda container, a test, a script
    click = sys.modules.get("click")
    context = click.get_current_context(silent=True) if click is not None else None
    if context is None or context.command.name not in BUILDING_COMMANDS:
        return None  # chalice local, chalice delete, ...
    return str(context.command.name), str(context.params.get("stage") or CHALICE_DEFAULT_STAGE)


def _policy_files(stage: str, project_dir: Path) -> list[Path]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text(encoding="utf-8"))
    functions = config.get("stages", {}).get(stage, {}).get("lambda_functions", {})
    return [
        project_dir / ".chalice" / spec["iam_policy_file"] for spec in functions.values() if "iam_policy_file" in spec
    ]


def _grants_data(policy_file: Path) -> bool:
    """Whether a policy file grants more than logs (``make infra`` writes data access; ``make package`` does not)."""
    return any(not str(action).startswith("logs:") for action in _actions(json.loads(policy_file.read_text())))


def _actions(document: object) -> list[object]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    actions: list[object] = []
    for statement in statements if isinstance(statements, list) else []:
        action = statement.get("Action", []) if isinstance(statement, dict) else []
        actions += action if isinstance(action, list) else [action]
    return actions


def unprepared(command: str, stage: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """What ``make infra`` would have written and is missing for ``chalice COMMAND --stage STAGE``; None if ready."""
    policies = _policy_files(stage, project_dir)
    missing = [str(path.relative_to(project_dir)) for path in policies if not path.is_file()]
    if not (project_dir / "vendor" / STORAGE_PACKAGE).is_dir():
        missing.append(f"vendor/{STORAGE_PACKAGE}")
    if missing:
        return "missing " + ", ".join(missing)
    for path in policies:
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return f"{path.relative_to(project_dir)} is not JSON"
    if command == "deploy" and policies and not any(_grants_data(path) for path in policies):
        return "its policy files grant logs only (make package wrote them, for a template)"
    return None


def refuse_unprepared_build() -> None:
    """Under ``chalice deploy``/``package``: stop with one line unless ``make infra`` prepared the stage."""
    building = chalice_building()
    problem = unprepared(*building) if building else None
    if building and problem:
        command, stage = building
        print(
            f"error: chalice {command} --stage {stage}: {problem}; run `make infra STAGE={stage}` first "
            f"(infrastructure stack, each function's policy file, the stage's API and issuer, vendor/)",
            file=sys.stderr,
        )
        raise SystemExit(2)  # not an Exception: Chalice would print a traceback for one


def report_missing_storage() -> None:
    """In a container: one log line, at start, when the package has no PynamoDB."""
    if importlib.util.find_spec(STORAGE_PACKAGE) is None:
        line = {
            "level": "ERROR",
            "service": "tollgate",
            "message": (
                "PynamoDB is not in this deployment package, so every request that reads a table fails: "
                "the package was built without vendor/; run `make infra STAGE=...` (or `make vendor`) and deploy again"
            ),
        }
        print(json.dumps(line), file=sys.stderr, flush=True)


def check() -> None:
    refuse_unprepared_build()
    report_missing_storage()
