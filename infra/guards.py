"""What bounds a deployed stage's bill under abuse, as each stage of ``.chalice/config.json`` sets it.

- ``waf``: AWS WAF (``infra/waf.yaml``) in front of the stage's API, **on
  unless the stage opts out** with ``"waf": {"enabled": false}``; the rate
  limits per source address come from ``limits_per_ip_per_5_minutes``
  (missing ones keep the template's defaults).
- ``budget``: an AWS Budgets alarm (``infra/budget.yaml``) at
  ``monthly_usd``, telling ``alert_email`` and/or ``alert_sns_topic_arn``;
  an alarm that tells nobody (or the placeholder the stages ship with) is
  refused.
- ``lambda_functions.api_handler.reserved_concurrency`` (Chalice's own
  key): the most API containers that may run at once, so a flood queues at
  API Gateway instead of scaling the bill; when set it must be at least 1
  (0 would switch the API off).

Chalice ignores these keys; ``infra/deploy.py`` applies them.  Every value is
checked here, before anything is deployed: a typo in a limit's name must not
silently leave the default in place.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from infra.stages import API_HANDLER, REPO_ROOT, Stage, StageError

WAF_TEMPLATE_PATH = REPO_ROOT / "infra" / "waf.yaml"
BUDGET_TEMPLATE_PATH = REPO_ROOT / "infra" / "budget.yaml"
BUDGET_KEY = "budget"
PLACEHOLDER_EMAIL_DOMAIN = "@example.com"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SNS_TOPIC = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")
WAF_KEY = "waf"
WAF_MIN_LIMIT, WAF_MAX_LIMIT = 10, 2_000_000_000  # what a WAF rate-based rule accepts

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
    if isinstance(value, bool) or not isinstance(value, int) or not WAF_MIN_LIMIT <= value <= WAF_MAX_LIMIT:
        raise StageError(
            f"stage {stage.name}: {WAF_KEY}.limits_per_ip_per_5_minutes.{name} must be a whole number "
            f"from {WAF_MIN_LIMIT} to {WAF_MAX_LIMIT:,}, not {value!r}"
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


# --------------------------------------------------------------------------- the budget alarm


def budget_stack_name(stage: Stage) -> str:
    return f"{stage.stack_name}-budget"


@dataclass(frozen=True)
class Budget:
    monthly_usd: float | int
    alert_email: str
    alert_sns_topic_arn: str

    def parameters(self, stage: Stage) -> dict[str, str]:
        """``infra/budget.yaml``'s parameters (also the defaults of ``make package``'s template)."""
        return {
            "NamePrefix": stage.name_prefix,
            "BudgetMonthlyUsd": str(self.monthly_usd),
            "BudgetAlertEmail": self.alert_email,
            "BudgetAlertSnsTopicArn": self.alert_sns_topic_arn,
        }


def budget(stage: Stage) -> Budget:
    """The stage's budget alarm, as written (``check_budget_recipient`` refuses the placeholder)."""
    raw = _object(stage, BUDGET_KEY)
    unknown = set(raw) - {"monthly_usd", "alert_email", "alert_sns_topic_arn"}
    amount = raw.get("monthly_usd")
    if unknown or isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 1 <= amount < math.inf:
        raise StageError(
            f"stage {stage.name}: {BUDGET_KEY} needs monthly_usd (US dollars, at least 1) and alert_email "
            f"or alert_sns_topic_arn" + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
        )
    email, topic = str(raw.get("alert_email") or ""), str(raw.get("alert_sns_topic_arn") or "")
    if not email and not topic:
        raise StageError(
            f"stage {stage.name}: {BUDGET_KEY} needs alert_email or alert_sns_topic_arn: an alarm must tell someone"
        )
    if email and not _EMAIL.fullmatch(email):
        raise StageError(f"stage {stage.name}: {BUDGET_KEY}.alert_email is not an email address: {email!r}")
    if topic and not _SNS_TOPIC.fullmatch(topic):
        raise StageError(f"stage {stage.name}: {BUDGET_KEY}.alert_sns_topic_arn is not an SNS topic ARN: {topic!r}")
    return Budget(amount, email, topic)


def check_budget_recipient(stage: Stage) -> None:
    """Refuse the placeholder address the committed stages ship with: its alarm would reach nobody."""
    if budget(stage).alert_email.lower().endswith(PLACEHOLDER_EMAIL_DOMAIN):
        raise StageError(
            f"stage {stage.name} still has the example {BUDGET_KEY}.alert_email: set it (or alert_sns_topic_arn) "
            "in .chalice/config.json to whoever must hear that the stage costs more than planned "
            "(README: Abuse and cost)"
        )


# --------------------------------------------------------------------------- reserved concurrency


def reserved_concurrency(stage: Stage) -> int | None:
    """The API function's reserved concurrency (``None``: not reserved); refuses what would stop the API."""
    settings = stage.config.get("lambda_functions", {}).get(API_HANDLER, {})
    reserved = settings.get("reserved_concurrency", stage.config.get("reserved_concurrency"))
    if reserved is None:
        return None
    if isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 1:
        raise StageError(
            f"stage {stage.name}: lambda_functions.{API_HANDLER}.reserved_concurrency must be a whole number "
            f"of at least 1 (0 stops the API), not {reserved!r}"
        )
    return reserved
