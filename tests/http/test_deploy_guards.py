"""``make deploy`` bounds the bill by default: the WAF in front of the API unless the stage opts out.

The same fakes as ``tests/http/test_deploy.py`` (CloudFormation keeps stacks by
name): what is asserted is which stacks the deploy creates, updates or
deletes, from which template, with which parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.deploy import Tools, deploy
from infra.guards import BUDGET_TEMPLATE_PATH, WAF_TEMPLATE_PATH
from infra.stages import StageError
from tests.http.test_deploy import fake_tools
from tests.http.test_deploy import project as project  # the fixture: a copy of .chalice/config.json

WAF_STACK = "tollgate-dev-waf"


def edit_stage(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    config = json.loads(project.read_text())
    change(config["stages"]["dev"])
    project.write_text(json.dumps(config))


def deployed(project: Path, tools: Tools | None = None) -> Tools:
    """The fakes after a deploy; ``tools``: a later deploy into the same account (and the same API)."""
    tools = tools or fake_tools(project, [], keys=[{"kid": "k"}])[0]
    deploy("dev", tools, config_path=project, say=lambda _: None)
    return tools


def assert_refused_before_anything_runs(project: Path, match: str) -> None:
    tools, cloudformation, _ = fake_tools(project, [], keys=[])
    with pytest.raises(StageError, match=match):
        deploy("dev", tools, config_path=project, say=lambda _: None)
    assert cloudformation.live == {}


def parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {item["ParameterKey"]: item["ParameterValue"] for item in stack["Parameters"]}


def test_deploy_puts_the_waf_in_front_of_the_api_chalice_made(project):
    stack = deployed(project).cloudformation.live[WAF_STACK].arguments
    assert stack["TemplateBody"] == WAF_TEMPLATE_PATH.read_text()
    assert parameters(stack)["RestApiId"] == "api0000001"  # what chalice deploy recorded
    assert parameters(stack)["StageName"] == "api"
    assert {"Key": "tollgate-stage", "Value": "dev"} in stack["Tags"]


def test_the_stage_sets_the_waf_limits(project):
    limits = {"authorize": 120, "token": 900, "device": 30, "ui": 200, "all": 5000}
    edit_stage(project, lambda dev: dev.update(waf={"limits_per_ip_per_5_minutes": limits}))
    given = parameters(deployed(project).cloudformation.live[WAF_STACK].arguments)
    assert given == {
        "RestApiId": "api0000001",
        "StageName": "api",
        "AuthorizePerIpPer5Minutes": "120",
        "TokenPerIpPer5Minutes": "900",
        "DevicePerIpPer5Minutes": "30",
        "UiPerIpPer5Minutes": "200",
        "RequestsPerIpPer5Minutes": "5000",
    }


def test_a_second_deploy_updates_the_waf_stack(project):
    tools = deployed(project)
    cloudformation = tools.cloudformation
    cloudformation.operations.clear()
    edit_stage(project, lambda dev: dev.update(waf={"limits_per_ip_per_5_minutes": {"token": 900}}))
    deployed(project, tools)
    assert f"update {WAF_STACK}" in cloudformation.operations
    assert f"create {WAF_STACK}" not in cloudformation.operations


def test_a_stage_that_opts_out_gets_no_waf_and_loses_the_one_it_had(project):
    tools = deployed(project)
    cloudformation = tools.cloudformation
    edit_stage(project, lambda dev: dev.update(waf={"enabled": False}))
    deployed(project, tools)
    assert WAF_STACK not in cloudformation.live
    assert f"delete {WAF_STACK}" in cloudformation.operations


@pytest.mark.parametrize(
    "setting",
    [
        {"enabled": "no"},
        {"enable": False},
        {"limits_per_ip_per_5_minutes": {"authorise": 100}},
        {"limits_per_ip_per_5_minutes": {"token": 5}},
        {"limits_per_ip_per_5_minutes": {"token": "600"}},
        {"limits_per_ip_per_5_minutes": {"token": 600.5}},
        {"limits_per_ip_per_5_minutes": {"all": 3_000_000_000}},  # past WAF's highest limit
        [],
    ],
)
def test_a_waf_setting_that_would_not_do_what_it_says_is_refused_before_anything_runs(project, setting):
    edit_stage(project, lambda dev: dev.update(waf=setting))
    assert_refused_before_anything_runs(project, "waf")


# --------------------------------------------------------------------------- the budget alarm

BUDGET_STACK = "tollgate-dev-budget"


def test_deploy_creates_the_stages_budget_alarm_with_its_amount_and_recipient(project):
    edit_stage(project, lambda dev: dev.update(budget={"monthly_usd": 40, "alert_email": "ops@acme.test"}))
    stack = deployed(project).cloudformation.live[BUDGET_STACK].arguments
    assert stack["TemplateBody"] == BUDGET_TEMPLATE_PATH.read_text()
    assert parameters(stack) == {
        "NamePrefix": "tollgate-dev",
        "BudgetMonthlyUsd": "40",
        "BudgetAlertEmail": "ops@acme.test",
        "BudgetAlertSnsTopicArn": "",
    }


def test_the_budget_alarm_may_go_to_an_sns_topic(project):
    topic = "arn:aws:sns:eu-west-1:111122223333:billing-alerts"
    edit_stage(project, lambda dev: dev.update(budget={"monthly_usd": 12.5, "alert_sns_topic_arn": topic}))
    given = parameters(deployed(project).cloudformation.live[BUDGET_STACK].arguments)
    assert (given["BudgetMonthlyUsd"], given["BudgetAlertEmail"], given["BudgetAlertSnsTopicArn"]) == (
        "12.5",
        "",
        topic,
    )


@pytest.mark.parametrize(
    "budget",
    [
        {"monthly_usd": 20},  # nobody to tell
        {"monthly_usd": 20, "alert_email": "ops@example.com"},  # the placeholder the stages ship with
        {"monthly_usd": 20, "alert_email": "not an address"},
        {"monthly_usd": 20, "alert_sns_topic_arn": "billing-alerts"},
        {"monthly_usd": 0, "alert_email": "ops@acme.test"},
        {"monthly_usd": "20", "alert_email": "ops@acme.test"},
        {"monthly_usd": True, "alert_email": "ops@acme.test"},
        {"monthly_usd": float("nan"), "alert_email": "ops@acme.test"},  # json reads NaN
        {"monthly_usd": float("inf"), "alert_email": "ops@acme.test"},
        {"monthly_usd": 20, "alert_email": "ops@acme.test\nBcc: x@evil.test"},
        {"alert_email": "ops@acme.test"},
        {"monthly_usd": 20, "alert_email": "ops@acme.test", "threshold": 80},
    ],
)
def test_a_budget_that_would_alert_nobody_or_nothing_is_refused_before_anything_runs(project, budget):
    edit_stage(project, lambda dev: dev.update(budget=budget))
    assert_refused_before_anything_runs(project, "budget")


def test_the_committed_stages_ship_without_a_real_recipient_and_are_refused_until_one_is_set(tmp_path):
    from infra.stages import CONFIG_PATH

    chalice_dir = tmp_path / ".chalice"
    chalice_dir.mkdir()
    (chalice_dir / "config.json").write_text(CONFIG_PATH.read_text())
    assert_refused_before_anything_runs(chalice_dir / "config.json", "alert_email")


# --------------------------------------------------------------------------- reserved concurrency


@pytest.mark.parametrize("reserved", [0, -1, "50", 2.5, True])
def test_a_reserved_concurrency_that_would_stop_or_not_bound_the_api_is_refused(project, reserved):
    edit_stage(project, lambda dev: dev["lambda_functions"]["api_handler"].update(reserved_concurrency=reserved))
    assert_refused_before_anything_runs(project, "reserved_concurrency")


def test_the_committed_stages_reserve_concurrency_for_the_api_function_only():
    from infra.guards import reserved_concurrency
    from infra.stages import load_stage

    for name in ("dev", "prod"):
        stage = load_stage(name)
        assert reserved_concurrency(stage) >= 1
        functions = stage.config["lambda_functions"]
        assert [f for f, settings in functions.items() if "reserved_concurrency" in settings] == ["api_handler"]
