"""``make deploy`` bounds the bill by default: the WAF in front of the API unless the stage opts out.

The same fakes as ``tests/test_deploy.py`` (CloudFormation keeps stacks by
name): what is asserted is which stacks the deploy creates, updates or
deletes, from which template, with which parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.deploy import deploy
from infra.guards import WAF_TEMPLATE_PATH
from infra.stages import StageError
from tests.test_deploy import FakeCloudFormation, fake_tools
from tests.test_deploy import project as project  # the fixture: a copy of .chalice/config.json

WAF_STACK = "tollgate-dev-waf"


def edit_stage(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    config = json.loads(project.read_text())
    change(config["stages"]["dev"])
    project.write_text(json.dumps(config))


def deployed(project: Path, cloudformation: FakeCloudFormation | None = None) -> FakeCloudFormation:
    tools, fresh, _ = fake_tools(project, [], keys=[{"kid": "k"}])
    if cloudformation is not None:
        tools = type(tools)(
            cloudformation, *(getattr(tools, name) for name in ("apigateway", "run_chalice", "key_operation"))
        )
    deploy("dev", tools, config_path=project, say=lambda _: None)
    return cloudformation or fresh


def parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {item["ParameterKey"]: item["ParameterValue"] for item in stack["Parameters"]}


def test_deploy_puts_the_waf_in_front_of_the_api_chalice_made(project):
    cloudformation = deployed(project)
    stack = cloudformation.stacks[WAF_STACK]
    assert stack["TemplateBody"] == WAF_TEMPLATE_PATH.read_text()
    assert parameters(stack)["RestApiId"] == "abc123defg"  # what chalice deploy recorded
    assert parameters(stack)["StageName"] == "api"
    assert {"Key": "tollgate-stage", "Value": "dev"} in stack["Tags"]


def test_the_stage_sets_the_waf_limits(project):
    limits = {"authorize": 120, "token": 900, "device": 30, "ui": 200, "all": 5000}
    edit_stage(project, lambda dev: dev.update(waf={"limits_per_ip_per_5_minutes": limits}))
    given = parameters(deployed(project).stacks[WAF_STACK])
    assert given == {
        "RestApiId": "abc123defg",
        "StageName": "api",
        "AuthorizePerIpPer5Minutes": "120",
        "TokenPerIpPer5Minutes": "900",
        "DevicePerIpPer5Minutes": "30",
        "UiPerIpPer5Minutes": "200",
        "RequestsPerIpPer5Minutes": "5000",
    }


def test_a_second_deploy_updates_the_waf_stack(project):
    cloudformation = deployed(project)
    cloudformation.calls.clear()
    deployed(project, cloudformation)
    assert ("update_stack", WAF_STACK) in cloudformation.calls
    assert ("create_stack", WAF_STACK) not in cloudformation.calls


def test_a_stage_that_opts_out_gets_no_waf_and_loses_the_one_it_had(project):
    cloudformation = deployed(project)
    edit_stage(project, lambda dev: dev.update(waf={"enabled": False}))
    deployed(project, cloudformation)
    assert WAF_STACK not in cloudformation.stacks
    assert ("delete_stack", WAF_STACK) in cloudformation.calls
    assert WAF_STACK not in deployed(project).stacks  # and a first deploy never makes one


@pytest.mark.parametrize(
    "setting",
    [
        {"enabled": "no"},
        {"enable": False},
        {"limits_per_ip_per_5_minutes": {"authorise": 100}},
        {"limits_per_ip_per_5_minutes": {"token": 5}},
        {"limits_per_ip_per_5_minutes": {"token": "600"}},
        {"limits_per_ip_per_5_minutes": {"token": 600.5}},
        [],
    ],
)
def test_a_waf_setting_that_would_not_do_what_it_says_is_refused_before_anything_runs(project, setting):
    edit_stage(project, lambda dev: dev.update(waf=setting))
    tools, cloudformation, _ = fake_tools(project, [], keys=[])
    with pytest.raises(StageError, match="waf"):
        deploy("dev", tools, config_path=project, say=lambda _: None)
    assert cloudformation.stacks == {}
