"""API Gateway, ``chalice deploy`` and Lambda's account settings, as ``make deploy`` meets them on a real account.

No AWS is reachable from here, and moto applies ``disableExecuteApiEndpoint``
at once; a real REST API does not. This fake reproduces, from the API Gateway
documentation ("Disable the default endpoint for REST APIs") and Chalice's
own code (``chalice/awsclient.py``, ``chalice/deploy/planner.py``):

- ``UpdateRestApi /disableExecuteApiEndpoint`` changes the API's setting, but
  the default endpoint follows it only once a stage is redeployed or one of
  its settings is updated after the change ("This setting takes effect when
  you update any setting on any stage"); until then it still answers;
- ``chalice deploy`` finds the API to update in ``.chalice/deployed/STAGE.json``
  (``rest_api_id``, checked with ``GetRestApi``): without that record it
  imports a new API with a new id (and a new URL); with it, it overwrites the
  API from its swagger (``PutRestApi mode=overwrite``), then deploys the stage;
- its swagger carries no ``disableExecuteApiEndpoint``, so the overwrite puts
  the setting back to ``false`` and its own stage deployment turns the default
  endpoint on again (the worst case; only a real account tells whether the
  overwrite keeps the flag, and re-applying it is right either way);
- the default endpoint of a switched-off API answers 403 to everyone;
- every call is checked against botocore's model of the real operation.

``FakeLambdaSettings`` answers ``GetAccountSettings`` with the account's
concurrency: new accounts may start at 10 instead of 1,000.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

REGION = "eu-west-1"
_MODEL = botocore.session.get_session().get_service_model("apigateway")


def _valid(operation: str, **params: Any) -> None:
    """Refuse what the real API would refuse before doing anything: botocore's own parameter validation."""
    report = ParamValidator().validate(params, _MODEL.operation_model(operation).input_shape)
    if report.has_errors():
        raise AssertionError(f"{operation}: {report.generate_report()}")


@dataclass
class RestApi:
    id: str
    disable_execute_api_endpoint: bool = False  # the API's setting
    default_endpoint_off: bool = False  # what callers of the default URL meet: follows the setting on a stage update
    stages: int = 0  # stages deployed at least once


class FakeApiGateway:
    exceptions = type("Exceptions", (), {"NotFoundException": ClientError, "ClientError": ClientError})

    def __init__(self, *, applies_switch: bool = True) -> None:
        self.apis: dict[str, RestApi] = {}
        self.calls: list[str] = []  # every operation, by anyone, in order
        self.applies_switch = applies_switch  # False: an account where the switch never takes effect

    def _api(self, rest_api_id: str, operation: str) -> RestApi:
        if rest_api_id not in self.apis:
            message = f"Invalid API identifier specified {rest_api_id}"
            raise ClientError({"Error": {"Code": "NotFoundException", "Message": message}}, operation)
        return self.apis[rest_api_id]

    def _stage_touched(self, api: RestApi) -> None:
        """Any stage update or deployment makes the default endpoint follow the API's setting."""
        if self.applies_switch:
            api.default_endpoint_off = api.disable_execute_api_endpoint

    # ----------------------------------------------------------------------- the operations

    def create_rest_api(self, *, name: str, **rest: Any) -> dict[str, Any]:
        _valid("CreateRestApi", name=name, **rest)
        self.calls.append("create_rest_api")
        api = RestApi(f"api{len(self.apis) + 1:07d}")
        self.apis[api.id] = api
        return {"id": api.id, "name": name}

    def import_rest_api(self, **rest: Any) -> dict[str, Any]:
        _valid("ImportRestApi", **rest)
        self.calls.append("import_rest_api")
        api = RestApi(f"api{len(self.apis) + 1:07d}")
        self.apis[api.id] = api
        return {"id": api.id}

    def get_rest_api(self, *, restApiId: str) -> dict[str, Any]:
        _valid("GetRestApi", restApiId=restApiId)
        api = self._api(restApiId, "GetRestApi")
        return {"id": api.id, "disableExecuteApiEndpoint": api.disable_execute_api_endpoint}

    def put_rest_api(self, *, restApiId: str, mode: str, **rest: Any) -> dict[str, Any]:
        _valid("PutRestApi", restApiId=restApiId, mode=mode, **rest)
        self.calls.append(f"put_rest_api {mode}")
        api = self._api(restApiId, "PutRestApi")
        if mode == "overwrite":
            api.disable_execute_api_endpoint = False  # not in Chalice's swagger
        return {"id": api.id}

    def update_rest_api(self, *, restApiId: str, patchOperations: list[dict[str, str]]) -> dict[str, Any]:
        _valid("UpdateRestApi", restApiId=restApiId, patchOperations=patchOperations)
        api = self._api(restApiId, "UpdateRestApi")
        for operation in patchOperations:
            self.calls.append(f"update_rest_api {operation['path']}={operation['value']}")
            if operation["path"] == "/disableExecuteApiEndpoint":
                api.disable_execute_api_endpoint = operation["value"].lower() == "true"
        return {"id": api.id}

    def create_deployment(self, *, restApiId: str, stageName: str, **rest: Any) -> dict[str, Any]:
        _valid("CreateDeployment", restApiId=restApiId, stageName=stageName, **rest)
        self.calls.append(f"create_deployment {stageName}")
        api = self._api(restApiId, "CreateDeployment")
        api.stages = max(api.stages, 1)
        self._stage_touched(api)
        return {"id": "deployment"}

    def update_stage(self, *, restApiId: str, stageName: str, patchOperations: list[dict[str, str]]) -> dict[str, Any]:
        _valid("UpdateStage", restApiId=restApiId, stageName=stageName, patchOperations=patchOperations)
        self.calls.append(f"update_stage {stageName}")
        api = self._api(restApiId, "UpdateStage")
        self._stage_touched(api)
        self.last_stage_patch = patchOperations
        return {"stageName": stageName}

    # ----------------------------------------------------------------------- callers

    def probe(self, url: str) -> int:
        """What an HTTP GET of ``url`` on an API's default ``execute-api`` host answers."""
        rest_api_id = url.removeprefix("https://").split(".", 1)[0]
        api = self.apis.get(rest_api_id)
        if api is None or api.stages == 0:
            return 404
        self.calls.append(f"probe {url}")
        return 403 if api.default_endpoint_off else 200

    def url(self, rest_api_id: str, stage: str = "api") -> str:
        return f"https://{rest_api_id}.execute-api.{REGION}.amazonaws.com/{stage}/"


def chalice_deploy(apigateway: FakeApiGateway, chalice_dir: Path, stage: str, api_gateway_stage: str = "api") -> str:
    """``chalice deploy --stage STAGE`` as far as the REST API goes; the id of the API it deployed.

    Chalice's planner: the record names an API that ``GetRestApi`` finds -> overwrite it from the swagger;
    otherwise import a new one. Then deploy the stage, patch the API, and record id and URL.
    """
    record_path = chalice_dir / "deployed" / f"{stage}.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"resources": []}
    known = [resource for resource in record["resources"] if resource.get("resource_type") == "rest_api"]
    rest_api_id = known[0]["rest_api_id"] if known else None
    if rest_api_id is not None:
        try:
            apigateway.get_rest_api(restApiId=rest_api_id)
        except ClientError:
            rest_api_id = None
    if rest_api_id is None:
        rest_api_id = apigateway.import_rest_api(body="{}")["id"]
    else:
        apigateway.put_rest_api(restApiId=rest_api_id, mode="overwrite", body="{}")
    apigateway.update_rest_api(
        restApiId=rest_api_id, patchOperations=[{"op": "replace", "path": "/minimumCompressionSize", "value": ""}]
    )
    apigateway.create_deployment(restApiId=rest_api_id, stageName=api_gateway_stage)
    others = [resource for resource in record["resources"] if resource.get("resource_type") != "rest_api"]
    rest_api = {
        "name": "rest_api",
        "resource_type": "rest_api",
        "rest_api_id": rest_api_id,
        "rest_api_url": apigateway.url(rest_api_id, api_gateway_stage),
    }
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps({"resources": [*others, rest_api], "schema_version": "2.0", "backend": "api"}))
    return rest_api_id


class FakeLambdaSettings:
    """The Lambda API a deploy uses: ``GetAccountSettings`` (the account's concurrency quota and what
    reserved concurrency leaves of it) and the event-invoke settings it records."""

    def __init__(self, concurrent: int = 1000, unreserved: int | None = None) -> None:
        self.concurrent = concurrent
        self.unreserved = concurrent if unreserved is None else unreserved
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def put_function_event_invoke_config(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(("put_function_event_invoke_config", arguments))
        return {}

    def get_account_settings(self) -> dict[str, Any]:
        return {
            "AccountLimit": {
                "ConcurrentExecutions": self.concurrent,
                "UnreservedConcurrentExecutions": self.unreserved,
            },
            "AccountUsage": {"FunctionCount": 4},
        }
