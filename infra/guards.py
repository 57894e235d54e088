"""What bounds a deployed stage's bill under abuse, as each stage of ``.chalice/config.json`` sets it.

- ``waf``: AWS WAF (``infra/waf.yaml``) in front of the stage's API, **on
  unless the stage opts out** with ``"waf": {"enabled": false}``; the rate
  limits per source address come from ``limits_per_ip_per_5_minutes``
  (missing ones keep the template's defaults).

Chalice ignores these keys; ``infra/deploy.py`` applies them.  Every value is
checked here, before anything is deployed: a typo in a limit's name must not
silently leave the default in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.stages import REPO_ROOT, Stage, StageError

WAF_TEMPLATE_PATH = REPO_ROOT / "infra" / "waf.yaml"
WAF_KEY = "waf"
WAF_MIN_LIMIT = 10  # the lowest limit a WAF rate-based rule accepts

# The stage's name for each limit -> the template parameter it sets.
WAF_LIMITS = {
    "all": "RequestsPerIpPer5Minutes",
    "authorize": "AuthorizePerIpPer5Minutes",
    "token": "TokenPerIpPer5Minutes",
    "device": "DevicePerIpPer5Minutes",
    "ui": "UiPerIpPer5Minutes",
}


def waf_stack_name(stage: Stage) -> str:
    return f"{stage.stack_name}-waf"


@dataclass(frozen=True)
class Waf:
    enabled: bool
    limits: dict[str, int]  # template parameter -> requests per source address per 5 minutes

    def parameters(self, rest_api_id: str, stage_name: str) -> dict[str, str]:
        """The WAF stack's parameters for the API ``chalice deploy`` made."""
        given = {name: str(limit) for name, limit in self.limits.items()}
        return {"RestApiId": rest_api_id, "StageName": stage_name, **given}


def _object(stage: Stage, key: str) -> dict[str, Any]:
    raw = stage.config.get(key, {})
    if not isinstance(raw, dict):
        raise StageError(f"stage {stage.name}: {key} must be an object")
    return raw


def _limit(stage: Stage, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < WAF_MIN_LIMIT:
        raise StageError(
            f"stage {stage.name}: {WAF_KEY}.limits_per_ip_per_5_minutes.{name} must be a whole number "
            f"of at least {WAF_MIN_LIMIT}, not {value!r}"
        )
    return value


def waf(stage: Stage) -> Waf:
    """The stage's WAF: on unless ``enabled`` is ``false``."""
    raw = _object(stage, WAF_KEY)
    unknown = set(raw) - {"enabled", "limits_per_ip_per_5_minutes"}
    enabled = raw.get("enabled", True)
    if unknown or not isinstance(enabled, bool):
        raise StageError(
            f"stage {stage.name}: {WAF_KEY} takes enabled (true or false) and limits_per_ip_per_5_minutes"
            + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
        )
    limits = raw.get("limits_per_ip_per_5_minutes", {})
    if not isinstance(limits, dict) or set(limits) - set(WAF_LIMITS):
        raise StageError(
            f"stage {stage.name}: {WAF_KEY}.limits_per_ip_per_5_minutes takes {', '.join(WAF_LIMITS)}, not {limits!r}"
        )
    return Waf(enabled, {WAF_LIMITS[name]: _limit(stage, name, value) for name, value in limits.items()})
