"""The deployable stages, as ``.chalice/config.json`` declares them.

Packaging (``infra/package.py``) and deploying (``infra/deploy.py``) both need
more than Chalice reads from a stage: the name prefix of its infrastructure
stack, its API Gateway throttling, its key mode.  This module reads them from
the one config file so nothing about a stage is written down twice.

Naming: every stage ``S`` owns one infrastructure stack ``tollgate-S`` whose
resources carry the prefix ``tollgate-S`` (tables ``tollgate-S-clients``...,
secrets ``tollgate-S/...``); its Lambda functions are ``tollgate-S-FUNCTION``,
as ``chalice deploy`` names them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Every Lambda function of the app, by Chalice's name for it (re-exported: infra code imports them from here).
from chalicelib.functions import ADMIN, API_HANDLER, APP_NAME, FUNCTIONS, INTERACTIONS, ROTATE_KEYS, deployed_name
from chalicelib.keys.schedule import shortest_interval

__all__ = ["ADMIN", "API_HANDLER", "APP_NAME", "FUNCTIONS", "INTERACTIONS", "ROTATE_KEYS"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CHALICE_DIR = REPO_ROOT / ".chalice"
CONFIG_PATH = CHALICE_DIR / "config.json"
LOCAL_STAGE = "local"

# Chalice ignores keys it does not know; this one is ours (applied by package.py and deploy.py).
THROTTLING_KEY = "api_gateway_throttling"


class StageError(ValueError):
    """A stage is missing, or its config cannot be deployed as written."""


@dataclass(frozen=True)
class Throttling:
    """API Gateway stage throttling: steady requests per second and the burst above it."""

    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class Stage:
    name: str
    config: dict[str, Any]  # the merged view: top-level keys overridden by the stage's own
    chalice_dir: Path = CHALICE_DIR  # where config.json is; policy files are relative to it

    @property
    def name_prefix(self) -> str:
        """The ``NamePrefix`` parameter of this stage's infrastructure stack."""
        return f"{APP_NAME}-{self.name}"

    @property
    def stack_name(self) -> str:
        return self.name_prefix

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.config.get("environment_variables", {}))

    @property
    def key_mode(self) -> str:
        return self.environment.get("KEY_MODE", "secrets")

    @property
    def kms_alias_prefix(self) -> str:
        return self.environment.get("KMS_KEY_ALIAS_PREFIX", f"alias/{self.name_prefix}-signing")

    @property
    def issuer_url(self) -> str | None:
        return self.environment.get("ISSUER_URL") or None

    @property
    def custom_domain(self) -> dict[str, Any] | None:
        return self.config.get("api_gateway_custom_domain")

    @property
    def api_gateway_stage(self) -> str:
        return str(self.config.get("api_gateway_stage", "api"))

    @property
    def throttling(self) -> Throttling:
        raw = self.config.get(THROTTLING_KEY)
        if not isinstance(raw, dict) or not {"rate_limit", "burst_limit"} <= raw.keys():
            raise StageError(f"stage {self.name}: {THROTTLING_KEY} needs rate_limit and burst_limit")
        return Throttling(float(raw["rate_limit"]), int(raw["burst_limit"]))

    def function_name(self, function: str) -> str:
        """The deployed Lambda's name, as ``chalice deploy`` gives it."""
        return deployed_name(self.name, function)

    def policy_file(self, function: str) -> Path:
        """Where Chalice reads ``function``'s IAM policy for this stage (``iam_policy_file``)."""
        functions = self.config.get("lambda_functions", {})
        relative = functions.get(function, {}).get("iam_policy_file")
        if not relative:
            raise StageError(f"stage {self.name}: lambda_functions.{function}.iam_policy_file is not set")
        return self.chalice_dir / relative


def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def stage_names(path: Path = CONFIG_PATH) -> list[str]:
    return list(load_config(path).get("stages", {}))


def load_stage(name: str, path: Path = CONFIG_PATH) -> Stage:
    """Stage ``name`` with top-level settings merged in (environment variables key by key)."""
    config = load_config(path)
    stages = config.get("stages", {})
    if name not in stages:
        raise StageError(f"no stage {name!r} in {path.name}; known: {', '.join(stages)}")
    own = stages[name]
    merged = {key: value for key, value in config.items() if key != "stages"}
    merged.update(own)
    merged["environment_variables"] = {
        **config.get("environment_variables", {}),
        **own.get("environment_variables", {}),
    }
    return Stage(name, merged, path.parent)


def deployable_stage(name: str, path: Path = CONFIG_PATH) -> Stage:
    """A stage that may go to AWS: not ``local``, and with a policy file declared for every function."""
    if name == LOCAL_STAGE:
        raise StageError("the local stage runs on the embedded AWS (`make run`); deploy dev or prod")
    stage = load_stage(name, path)
    for function in FUNCTIONS:
        stage.policy_file(function)
    stage.throttling  # noqa: B018 - raises StageError when missing
    _check_rotation_schedule(stage)
    return stage


def _check_rotation_schedule(stage: Stage) -> None:
    """Rotation reads its period from the schedule: one it cannot read is refused before anything is deployed."""
    expression = stage.environment.get("KEY_ROTATION_SCHEDULE")
    try:
        shortest_interval(expression) if expression else None
    except ValueError as error:
        raise StageError(f"stage {stage.name}: KEY_ROTATION_SCHEDULE: {error}") from None
