"""``infra/resources.yaml`` applied by direct API calls: loader, resolver, one applier per resource type.

DESIGN §9 and §10.  moto's own CloudFormation reports a stack complete while
dropping KMS key specs, secrets, TTL and point-in-time recovery, so this module
reads the template itself and creates each declared resource with direct API
calls: the template stays the single source of truth for deployed stages and
for the local stack alike.

It lives apart from :mod:`infra.local` because it needs no server: tests call
:func:`apply_template` inside ``moto.mock_aws()``, and ``infra/package.py`` and
``infra/deploy.py`` only read the template.  What it can reproduce is exactly
what ``_APPLIERS`` lists; anything else raises :class:`TemplateError` rather
than silently differing from a deployed stage.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # the SDK loads only to apply: reading the template (tests/unit/test_waf.py) needs none
    import boto3

log = logging.getLogger("tollgate.local")

TEMPLATE_PATH = Path(__file__).resolve().parent / "resources.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

# The app's settings (chalicelib/config.py) and the template outputs that feed them.
SETTINGS_FROM_OUTPUTS: dict[str, str] = {
    "CLIENTS_TABLE": "ClientsTableName",
    "USERS_TABLE": "UsersTableName",
    "STATE_TABLE": "StateTableName",
    "KEYS_SECRET_ID": "SigningKeysSecretName",
    "PEPPER_SECRET_ID": "PepperSecretName",
}


class TemplateError(ValueError):
    """The template uses something this module cannot reproduce locally."""


# --------------------------------------------------------------------------- template


class _TemplateLoader(yaml.SafeLoader):
    """Safe YAML loader that reads CloudFormation short tags (``!Sub``) as their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, short tags expanded (``!Ref X`` -> ``{"Ref": "X"}``)."""
    return parse_template(path.read_text(encoding="utf-8"))


def parse_template(text: str) -> dict[str, Any]:
    """A template body (YAML or JSON) as plain data, short tags expanded."""
    loader = _TemplateLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class _Resolver:
    """Evaluates intrinsic functions against parameters and the resources created so far."""

    def __init__(self, parameters: Mapping[str, str]) -> None:
        self.refs: dict[str, Any] = {
            **parameters,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        self.attributes: dict[str, dict[str, str]] = {}
        self._functions: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::Sub": self._sub,
            "Fn::GetAtt": lambda arg: self._get_att(*self.resolve(arg)),
            "Fn::Join": lambda arg: str(arg[0]).join(map(str, self.resolve(arg[1]))),
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(self.resolve(arg[0]))],
            "Fn::Split": lambda arg: str(self.resolve(arg[1])).split(arg[0]),
        }

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [value for value in map(self.resolve, node) if value is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key in self._functions:
                return self._functions[key](argument)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"{key} is not supported by infra/template.py")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name not in self.refs:
            raise TemplateError(f"!Ref {name}: unknown, or declared after what refers to it")
        return self.refs[name]

    def _get_att(self, resource: str, attribute: str) -> str:
        try:
            return self.attributes[resource][attribute]
        except KeyError:
            raise TemplateError(f"!GetAtt {resource}.{attribute} is not available locally") from None

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            return str(self._get_att(*name.split(".", 1)) if "." in name else self._ref(name))

        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class _Clients:
    dynamodb: Any
    kms: Any
    secretsmanager: Any

    @classmethod
    def create(cls, session: boto3.session.Session, endpoint_url: str | None) -> _Clients:
        region = session.region_name or REGION

        def make(service: str) -> Any:
            return session.client(service, endpoint_url=endpoint_url, region_name=region)

        return cls(dynamodb=make("dynamodb"), kms=make("kms"), secretsmanager=make("secretsmanager"))


@dataclass(frozen=True)
class _Created:
    ref: str  # what !Ref returns
    name: str  # what the app and the state file know it by
    attributes: dict[str, str] = field(default_factory=dict)  # what !GetAtt returns


@dataclass(frozen=True)
class _Declared:
    logical_id: str
    properties: dict[str, Any]
    template: dict[str, Any]
    resolver: _Resolver


def _check_properties(resource: _Declared, known: set[str]) -> None:
    unknown = set(resource.properties) - known
    if unknown:
        raise TemplateError(f"{resource.logical_id}: infra/local.py cannot apply {sorted(unknown)}")


def _tags(properties: dict[str, Any], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: tag["Key"], value: tag["Value"]} for tag in properties.get("Tags", [])]


_TABLE_PROPERTIES = {
    "TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes", "TimeToLiveSpecification", "PointInTimeRecoverySpecification",
    "DeletionProtectionEnabled", "Tags",
}  # fmt: skip
_TABLE_PASSTHROUGH = (
    "TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes", "DeletionProtectionEnabled",
)  # fmt: skip


def _boolean(value: Any) -> bool:
    """A Boolean property as CloudFormation reads it: ``true``, or the string ``"true"`` a parameter gives."""
    return value is True or str(value).lower() == "true"


def _apply_table(clients: _Clients, resource: _Declared) -> _Created:
    _check_properties(resource, _TABLE_PROPERTIES)
    properties, dynamodb = resource.properties, clients.dynamodb
    name = properties["TableName"]
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        arguments = {key: properties[key] for key in _TABLE_PASSTHROUGH if key in properties}
        if "DeletionProtectionEnabled" in properties:
            arguments["DeletionProtectionEnabled"] = _boolean(properties["DeletionProtectionEnabled"])
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties)
        table = dynamodb.create_table(**arguments)["TableDescription"]
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    else:
        _ensure_indexes(dynamodb, table, properties)
    _ensure_time_to_live(dynamodb, name, properties.get("TimeToLiveSpecification"))
    _ensure_point_in_time_recovery(dynamodb, name, properties.get("PointInTimeRecoverySpecification"))
    return _Created(ref=name, name=name, attributes={"Arn": table["TableArn"]})


def _ensure_indexes(dynamodb: Any, table: dict[str, Any], properties: dict[str, Any]) -> None:
    """A table kept under .local/ gets the indexes declared since (a renamed index replaces the old one)."""
    declared = {index["IndexName"]: index for index in properties.get("GlobalSecondaryIndexes", [])}
    existing = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    updates = [{"Delete": {"IndexName": name}} for name in sorted(existing - set(declared))]
    updates += [{"Create": declared[name]} for name in sorted(set(declared) - existing)]
    for update in updates:  # DynamoDB creates or deletes one index per UpdateTable
        dynamodb.update_table(
            TableName=table["TableName"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[update],
        )


def _ensure_time_to_live(dynamodb: Any, table: str, spec: dict[str, Any] | None) -> None:
    if not spec or not spec.get("Enabled"):
        return
    current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        specification = {"AttributeName": spec["AttributeName"], "Enabled": True}
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=specification)


def _ensure_point_in_time_recovery(dynamodb: Any, table: str, spec: dict[str, Any] | None) -> None:
    """Best effort: nothing local depends on it, so an emulator without it only earns a warning."""
    if not spec or not spec.get("PointInTimeRecoveryEnabled"):
        return
    from botocore.exceptions import ClientError

    try:
        dynamodb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    except ClientError as error:
        log.warning("point-in-time recovery not enabled on %s: %s", table, error)


_KEY_PROPERTIES = {"Description", "KeySpec", "KeyUsage", "EnableKeyRotation", "KeyPolicy", "MultiRegion", "Tags"}


def _alias_of(resource: _Declared) -> str | None:
    """The alias the template points at this key: a key has no name, so this is its identity across runs."""
    refs = [{"Ref": resource.logical_id}] + [{"Fn::GetAtt": [resource.logical_id, att]} for att in ("Arn", "KeyId")]
    for declared in resource.template["Resources"].values():
        properties = declared.get("Properties", {})
        if declared["Type"] == "AWS::KMS::Alias" and properties.get("TargetKeyId") in refs:
            return resource.resolver.resolve(properties["AliasName"])
    return None


def _existing_key(kms: Any, alias: str | None) -> dict[str, Any] | None:
    if alias is None:
        return None
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        return None


def _create_key(kms: Any, properties: dict[str, Any]) -> dict[str, Any]:
    policy = properties.get("KeyPolicy")
    arguments: dict[str, Any] = {
        "Description": properties.get("Description", ""),
        "KeySpec": properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
        "KeyUsage": properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
        "MultiRegion": bool(properties.get("MultiRegion", False)),
        "Tags": _tags(properties, "TagKey", "TagValue"),
    }
    if policy is not None:
        arguments["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    return kms.create_key(**arguments)["KeyMetadata"]


def _apply_kms_key(clients: _Clients, resource: _Declared) -> _Created:
    _check_properties(resource, _KEY_PROPERTIES)
    properties, kms = resource.properties, clients.kms
    key = _existing_key(kms, _alias_of(resource)) or _create_key(kms, properties)
    key_id = key["KeyId"]
    if properties.get("EnableKeyRotation") and not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]:
        kms.enable_key_rotation(KeyId=key_id)
    return _Created(ref=key_id, name=key["Arn"], attributes={"Arn": key["Arn"], "KeyId": key_id})


def _apply_kms_alias(clients: _Clients, resource: _Declared) -> _Created:
    _check_properties(resource, {"AliasName", "TargetKeyId"})
    name, target, kms = resource.properties["AliasName"], resource.properties["TargetKeyId"], clients.kms
    try:
        current = kms.describe_key(KeyId=name)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        kms.create_alias(AliasName=name, TargetKeyId=target)
    else:
        if target not in (current["KeyId"], current["Arn"]):
            kms.update_alias(AliasName=name, TargetKeyId=target)
    return _Created(ref=name, name=name)


def _generated_secret_string(spec: dict[str, Any]) -> str:
    """CloudFormation generates this value from ``GenerateSecretString``; locally the
    app's own pepper generator stands in (256 random bits, URL-safe)."""
    if "SecretStringTemplate" in spec or "GenerateStringKey" in spec:
        raise TemplateError("GenerateSecretString with a JSON template is not supported locally")
    from chalicelib.keys.pepper import new_pepper

    return new_pepper()


def _apply_secret(clients: _Clients, resource: _Declared) -> _Created:
    _check_properties(resource, {"Name", "Description", "KmsKeyId", "SecretString", "GenerateSecretString", "Tags"})
    properties, secrets = resource.properties, clients.secretsmanager
    name = properties["Name"]
    try:
        arn = secrets.describe_secret(SecretId=name)["ARN"]
    except secrets.exceptions.ResourceNotFoundException:
        arguments = {key: properties[key] for key in ("Name", "Description", "KmsKeyId") if key in properties}
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties)
        value = properties.get("SecretString")
        arguments["SecretString"] = (
            value if value is not None else _generated_secret_string(properties.get("GenerateSecretString", {}))
        )
        arn = secrets.create_secret(**arguments)["ARN"]
    return _Created(ref=arn, name=name, attributes={"Id": arn})


# Creation order: what a later type refers to (a key, for aliases and secrets) exists first.
_APPLIERS: dict[str, Callable[[_Clients, _Declared], _Created]] = {
    "AWS::KMS::Key": _apply_kms_key,
    "AWS::KMS::Alias": _apply_kms_alias,
    "AWS::DynamoDB::Table": _apply_table,
    "AWS::SecretsManager::Secret": _apply_secret,
}


@dataclass(frozen=True)
class AppliedTemplate:
    """What :func:`apply_template` created, by logical id, and the template's resolved outputs."""

    outputs: dict[str, str]
    tables: dict[str, str]  # logical id -> table name
    secrets: dict[str, str]  # logical id -> secret name
    kms_keys: dict[str, str]  # logical id -> key ARN

    def settings_env(self) -> dict[str, str]:
        """The app's environment variables naming these tables and secrets (``CLIENTS_TABLE``...)."""
        return {name: self.outputs[output] for name, output in SETTINGS_FROM_OUTPUTS.items() if output in self.outputs}


def apply_template(
    *,
    template_path: Path = TEMPLATE_PATH,
    parameters: Mapping[str, str] | None = None,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
) -> AppliedTemplate:
    """Create every resource ``resources.yaml`` declares; skip what already exists.

    Works against any boto3 endpoint: inside ``moto.mock_aws()`` call it with no
    arguments; against the embedded server pass ``endpoint_url``.  With neither,
    the clients go wherever boto3 would, so only call it that way under a mock.
    ``parameters`` override the template's parameter defaults.
    """
    import boto3

    clients = _Clients.create(session or boto3.session.Session(), endpoint_url)
    return _apply(load_template(template_path), clients, parameters or {})


def _parameter_values(template: dict[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    values = {name: overrides.get(name, spec.get("Default")) for name, spec in template.get("Parameters", {}).items()}
    missing = sorted(name for name, value in values.items() if value is None)
    if missing:
        raise TemplateError(f"parameters without a default need a value: {missing}")
    return {name: str(value) for name, value in values.items()}


def _apply(template: dict[str, Any], clients: _Clients, overrides: Mapping[str, str]) -> AppliedTemplate:
    resolver = _Resolver(_parameter_values(template, overrides))
    resources = template["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] not in _APPLIERS:
            raise TemplateError(f"{logical_id}: infra/local.py cannot create {resource['Type']}")
        if "Condition" in resource:
            raise TemplateError(f"{logical_id}: conditions are not supported by infra/local.py")
    names: dict[str, dict[str, str]] = {kind: {} for kind in _APPLIERS}  # type -> logical id -> name
    for kind, applier in _APPLIERS.items():
        for logical_id, resource in resources.items():
            if resource["Type"] == kind:
                properties = resolver.resolve(resource.get("Properties", {}))
                created = applier(clients, _Declared(logical_id, properties, template, resolver))
                resolver.refs[logical_id] = created.ref
                resolver.attributes[logical_id] = created.attributes
                names[kind][logical_id] = created.name
    outputs = {name: str(resolver.resolve(spec["Value"])) for name, spec in template.get("Outputs", {}).items()}
    return AppliedTemplate(
        outputs=outputs,
        tables=names["AWS::DynamoDB::Table"],
        secrets=names["AWS::SecretsManager::Secret"],
        kms_keys=names["AWS::KMS::Key"],
    )
