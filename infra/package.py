"""``make package STAGE=...``: one CloudFormation (SAM) template carrying the app and its infrastructure.

For a CI/CD pipeline that deploys templates rather than running ``chalice
deploy``.  ``chalice package --merge-template`` merges a JSON template we
build here into the one Chalice generates:

- every resource, parameter and output of ``infra/resources.yaml`` (loaded
  with its short tags expanded, written as JSON so no YAML alias or tag
  survives the merge);
- one ``AWS::IAM::Policy`` per function, attached to the role Chalice made
  for it, holding the function's data permissions from ``infra/policies.py``
  (separate resources, because the merge replaces lists rather than
  extending them: adding to a role's ``Policies`` would drop Chalice's own);
- ``FunctionName: tollgate-STAGE-FUNCTION`` on every function, the names
  ``chalice deploy`` gives them, so the CLI's ``--stage`` and the admin
  function find them either way;
- no Lambda retry of the rotation function (``MaximumRetryAttempts: 0``),
  and in ``kms`` mode the ARNs of the roles each new key's policy names;
- the stage's API Gateway throttling, and with a custom domain the default
  ``execute-api`` endpoint switched off, so every caller goes through the
  domain and its TLS 1.2 security policy;
- the API handler's log group named after ``${APIHandler}``: Chalice 1.34
  writes ``${ApiHandler}``, a resource that does not exist (cfn-lint E1019);
- with a custom domain, the base path mapping made to wait for the API
  stage: Chalice names the stage as a literal with no dependency, so
  CloudFormation may create the mapping first and fail with "Invalid stage
  identifier specified" (aws/chalice#1735);
- the stage's AWS Budgets alarm (``infra/budget.yaml``, :mod:`infra.guards`);
  the API function's reserved concurrency is Chalice's own setting.

Writes ``build/STAGE/merge.json``, ``sam.json`` and ``deployment.zip``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra import guards
from infra.local import load_template
from infra.policies import as_references, data_statements, document, package_documents
from infra.stages import API_HANDLER, FUNCTIONS, REPO_ROOT, ROTATE_KEYS, Stage, StageError, deployable_stage

BUILD_DIR = REPO_ROOT / "build"
TEMPLATE_NAME = "sam.json"
MERGE_NAME = "merge.json"
PACKAGING_REGION = "us-east-1"  # the template itself is region-independent (${AWS::Region})

# Chalice's logical ids in the template it generates.
API_HANDLER_RESOURCE = "APIHandler"
API_HANDLER_LOG_GROUP = "ApiHandlerLogGroup"
REST_API_RESOURCE = "RestAPI"
DOMAIN_MAPPING_RESOURCE = "ApiGatewayCustomDomainMapping"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def function_resource(function: str) -> str:
    """Chalice's logical id of a function: ``APIHandler`` for the REST API, ``RotateKeys`` for ``rotate_keys``."""
    return API_HANDLER_RESOURCE if function == "api_handler" else _camel(function)


def role_resource(function: str) -> str:
    """Chalice's logical id of a function's own role (``iam_policy_file`` with ``autogen_policy: false``)."""
    return _camel(f"{function}_role")


def data_policy_resource(function: str) -> str:
    return f"{_camel(function)}DataPolicy"


def issuer_of(stage: Stage, override: str | None) -> str:
    issuer = override or stage.issuer_url
    if not issuer:
        raise StageError(
            f"stage {stage.name} has no ISSUER_URL: set it in .chalice/config.json, "
            f"or pass ISSUER_URL=https://... to make package"
        )
    if not issuer.startswith("https://"):
        raise StageError(f"stage {stage.name}: ISSUER_URL must be https, not {issuer!r}")
    return issuer.rstrip("/")


def _function_overrides(stage: Stage, issuer_override: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if issuer_override:
        properties["Environment"] = {"Variables": {"ISSUER_URL": issuer_override.rstrip("/")}}
    overrides = {
        function_resource(function): {"Properties": {"FunctionName": stage.function_name(function), **properties}}
        for function in FUNCTIONS
    }
    rotation = overrides[function_resource(ROTATE_KEYS)]["Properties"]
    # EventBridge invokes asynchronously and Lambda retries a failed run twice: a retry after the new keys were
    # written would rotate again.  The next scheduled run is the retry (and rotation skips a run within a period).
    rotation["EventInvokeConfig"] = {"MaximumRetryAttempts": 0}
    if stage.key_mode == "kms":  # each new key's policy names these roles; CloudFormation chooses their names
        variables = {**properties.get("Environment", {}).get("Variables", {}), **_key_user_roles()}
        rotation["Environment"] = {"Variables": variables}
    return overrides


def _key_user_roles() -> dict[str, Any]:
    return {
        "KMS_SIGNER_ROLE_ARN": {"Fn::GetAtt": [role_resource(API_HANDLER), "Arn"]},
        "KMS_ROTATION_ROLE_ARN": {"Fn::GetAtt": [role_resource(ROTATE_KEYS), "Arn"]},
    }


def _data_policies(stage: Stage) -> dict[str, Any]:
    return {
        data_policy_resource(function): {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": f"{stage.function_name(function)}-data",
                "PolicyDocument": as_references(document(data_statements(stage, function))),
                "Roles": [{"Ref": role_resource(function)}],
            },
        }
        for function in FUNCTIONS
    }


def _rest_api_overrides(stage: Stage) -> dict[str, Any]:
    throttling = stage.throttling
    properties: dict[str, Any] = {
        "MethodSettings": [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": throttling.rate_limit,
                "ThrottlingBurstLimit": throttling.burst_limit,
            }
        ]
    }
    if stage.custom_domain:
        properties["DisableExecuteApiEndpoint"] = True
    return {REST_API_RESOURCE: {"Properties": properties}}


def _log_group_fix(stage: Stage) -> dict[str, Any]:
    if not stage.config.get("log_retention_in_days"):
        return {}
    name = {"Fn::Sub": f"/aws/lambda/${{{API_HANDLER_RESOURCE}}}"}
    return {API_HANDLER_LOG_GROUP: {"Properties": {"LogGroupName": name}}}


def _check_custom_domain(stage: Stage) -> None:
    domain = stage.custom_domain
    if domain and domain.get("tls_version") != "TLS_1_2":
        raise StageError(f"stage {stage.name}: api_gateway_custom_domain.tls_version must be TLS_1_2")
    if domain and not stage.api_gateway_stage.isalnum():
        raise StageError(
            f"stage {stage.name}: api_gateway_stage must be letters and digits with a custom domain "
            f"(SAM names its stage resource after it only then), not {stage.api_gateway_stage!r}"
        )


def api_stage_resource(stage: Stage) -> str:
    """The logical id SAM gives the stage of ``RestAPI``: ``<api-LogicalId><stage-name>Stage``."""
    return f"{REST_API_RESOURCE}{stage.api_gateway_stage}Stage"


def _domain_mapping_order(stage: Stage) -> dict[str, Any]:
    """The custom domain's base path mapping waits for the stage it names (only merged when Chalice writes one)."""
    if not stage.custom_domain:
        return {}
    return {DOMAIN_MAPPING_RESOURCE: {"DependsOn": [api_stage_resource(stage)]}}


def _budget(stage: Stage) -> dict[str, Any]:
    """``infra/budget.yaml`` with the stage's budget as its parameters' defaults (``NamePrefix`` is shared)."""
    budget, settings = load_template(guards.BUDGET_TEMPLATE_PATH), guards.budget(stage)
    values: dict[str, Any] = {**settings.parameters(stage), "BudgetMonthlyUsd": settings.monthly_usd}  # a Number
    parameters = {
        name: {**spec, "Default": values[name]} for name, spec in budget["Parameters"].items() if name != "NamePrefix"
    }
    return {"Parameters": parameters, "Conditions": budget["Conditions"], "Resources": budget["Resources"]}


def merge_template(stage: Stage, *, issuer_override: str | None = None) -> dict[str, Any]:
    """The template ``chalice package --merge-template`` merges into its own."""
    issuer_of(stage, issuer_override)
    _check_custom_domain(stage)
    guards.reserved_concurrency(stage)  # Chalice applies it; a 0 would switch the API off
    infra, budget = load_template(), _budget(stage)
    parameters = infra.get("Parameters", {})
    parameters["NamePrefix"] = {**parameters["NamePrefix"], "Default": stage.name_prefix}
    return {
        "Description": f"Tollgate {stage.name}: API, admin and key rotation functions, tables, keys and secrets",
        "Parameters": {**parameters, **budget["Parameters"]},
        "Conditions": budget["Conditions"],
        "Resources": {
            **infra["Resources"],
            **_data_policies(stage),
            **_function_overrides(stage, issuer_override),
            **_rest_api_overrides(stage),
            **_log_group_fix(stage),
            **_domain_mapping_order(stage),
            **budget["Resources"],
        },
        "Outputs": infra.get("Outputs", {}),
    }


def write_policy_files(stage: Stage) -> None:
    """The ``iam_policy_file`` Chalice embeds in each function's role: its own logs only."""
    for function, policy in package_documents(stage).items():
        path = stage.policy_file(function)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")


def _chalice() -> list[str]:
    script = Path(sys.executable).with_name("chalice")
    return [str(script)] if script.exists() else [sys.executable, "-m", "chalice.cli"]


def package(stage_name: str, out_dir: Path | None = None, *, issuer_override: str | None = None) -> Path:
    """Run ``chalice package`` for ``stage_name``; the path of the merged template."""
    stage = deployable_stage(stage_name)
    merged = merge_template(stage, issuer_override=issuer_override)  # checks the stage before writing anything
    out_dir = (out_dir or BUILD_DIR / stage.name).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    merge_path = out_dir / MERGE_NAME
    merge_path.write_text(json.dumps(merged, indent=2) + "\n")
    write_policy_files(stage)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or PACKAGING_REGION}
    command = [*_chalice(), "package", "--stage", stage.name, "--merge-template", str(merge_path), str(out_dir)]
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True)
    return out_dir / TEMPLATE_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", type=Path, default=None, help="output directory (default build/STAGE)")
    parser.add_argument("--issuer-url", default=None, help="issuer when the stage config has none")
    args = parser.parse_args(argv)
    try:
        template = package(args.stage, args.out, issuer_override=args.issuer_url)
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"packaged {template} (and deployment.zip beside it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
