"""The embedded local AWS: moto in this process, shaped by ``infra/resources.yaml``.

DESIGN §9 and §10.  moto's own CloudFormation reports a stack complete while
dropping KMS key specs, secrets, TTL and point-in-time recovery, so this module
reads the template itself and creates each declared resource with direct API
calls: the template stays the single source of truth for deployed stages and
for the local stack alike.

``python -m infra.local`` (``make run``) starts moto on ``127.0.0.1:$AWS_PORT``,
applies the template, restores ``.local/state.json``, creates signing keys on
the first start, serves ``chalice local`` on ``127.0.0.1:$PORT`` and saves the
declared tables and secrets every few seconds and on Ctrl-C / SIGTERM.

Tests reuse the same pieces: :func:`apply_template` (any boto3 endpoint,
including ``moto.mock_aws()``), :func:`local_aws` (moto + template +
persistence) and :func:`local_stack` (all of it plus ``chalice local``).
"""

from __future__ import annotations

import base64
import ctypes
import functools
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
import yaml
from botocore.exceptions import ClientError

log = logging.getLogger("tollgate.local")

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = Path(__file__).resolve().parent / "resources.yaml"
DEFAULT_STATE_DIR = REPO_ROOT / ".local"
STATE_FILE_NAME = "state.json"
HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_AWS_PORT = 4566
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
STATE_FORMAT = 1

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
    with path.open(encoding="utf-8") as stream:
        loader = _TemplateLoader(stream)
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
                raise TemplateError(f"{key} is not supported by infra/local.py")
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


def _apply_table(clients: _Clients, resource: _Declared) -> _Created:
    _check_properties(resource, _TABLE_PROPERTIES)
    properties, dynamodb = resource.properties, clients.dynamodb
    name = properties["TableName"]
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        arguments = {key: properties[key] for key in _TABLE_PASSTHROUGH if key in properties}
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties)
        table = dynamodb.create_table(**arguments)["TableDescription"]
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    _ensure_time_to_live(dynamodb, name, properties.get("TimeToLiveSpecification"))
    _ensure_point_in_time_recovery(dynamodb, name, properties.get("PointInTimeRecoverySpecification"))
    return _Created(ref=name, name=name, attributes={"Arn": table["TableArn"]})


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


# --------------------------------------------------------------------------- persistence


def _encode_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot save {type(value).__name__}")


def _decode_bytes(value: dict[str, Any]) -> Any:
    return base64.b64decode(value["$b64"]) if value.keys() == {"$b64"} else value


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=1, default=_encode_bytes)


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items = [item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    return sorted(items, key=_dumps)  # stable order: an unchanged table serialises identically


def _secret_value(secrets: Any, name: str) -> dict[str, Any]:
    answer = secrets.get_secret_value(SecretId=name)
    return {key: answer[key] for key in ("SecretString", "SecretBinary") if key in answer}


def take_snapshot(clients: _Clients, applied: AppliedTemplate) -> dict[str, Any]:
    """Every item of every declared table and the current value of every declared secret."""
    return {
        "format": STATE_FORMAT,
        "tables": {name: _scan(clients.dynamodb, name) for name in applied.tables.values()},
        "secrets": {name: _secret_value(clients.secretsmanager, name) for name in applied.secrets.values()},
    }


def restore_snapshot(clients: _Clients, applied: AppliedTemplate, snapshot: dict[str, Any]) -> None:
    """Put saved items back and give each declared secret its saved value (newly created KMS key or not)."""
    if snapshot.get("format") != STATE_FORMAT:
        raise ValueError(f"state format {snapshot.get('format')!r} is not {STATE_FORMAT}")
    dropped = (set(snapshot["tables"]) - set(applied.tables.values())) | (
        set(snapshot["secrets"]) - set(applied.secrets.values())
    )
    if dropped:
        log.warning("not restoring %s: no longer declared in the template", sorted(dropped))
    for table in applied.tables.values():
        _put_items(clients.dynamodb, table, snapshot["tables"].get(table, []))
    for name in applied.secrets.values():
        saved = snapshot["secrets"].get(name)
        if saved and saved != _secret_value(clients.secretsmanager, name):
            clients.secretsmanager.put_secret_value(SecretId=name, **saved)


def _put_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):  # BatchWriteItem takes at most 25 requests
        requests = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


def _write_atomically(path: Path, text: str) -> None:
    """Temp file + rename: a crash leaves the old state or the new one, never half of one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class _Persistence:
    """Saves the declared tables and secrets to one JSON file (it holds secrets: mode 0600).

    A background thread saves every ``interval`` seconds, but only scans when the
    server saw a request that may write since the last save; the file is
    rewritten only when its content changed.  ``stop`` saves one last time.
    """

    def __init__(self, path: Path, clients: _Clients, applied: AppliedTemplate, writes: Callable[[], int]) -> None:
        self.path, self._clients, self._applied, self._writes = path, clients, applied, writes
        self._lock = threading.Lock()
        self._saved_text: str | None = None
        self._saved_at_writes: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def restore(self) -> bool:
        if not self.path.exists():
            return False
        text = self.path.read_text(encoding="utf-8")
        try:
            snapshot = json.loads(text, object_hook=_decode_bytes)
        except ValueError as error:  # never silently start empty over someone's clients and users
            raise RuntimeError(f"{self.path} is unreadable ({error}); move it away to start empty") from error
        restore_snapshot(self._clients, self._applied, snapshot)
        self._saved_text = text
        return True

    def save(self) -> bool:
        """Write the file if anything changed; True when it did."""
        with self._lock:
            writes = self._writes()
            if writes == self._saved_at_writes:
                return False
            text = _dumps(take_snapshot(self._clients, self._applied))
            changed = text != self._saved_text
            if changed:
                _write_atomically(self.path, text)
                self._saved_text = text
            self._saved_at_writes = writes  # only once the file holds everything up to `writes`
            return changed

    def start(self, interval: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(interval,), name="local-state-saver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.save()

    def _run(self, interval: float) -> None:
        wait = interval
        while not self._stopping.wait(wait):
            started = time.monotonic()
            try:
                self.save()
            except Exception:  # keep saving later; a failed save must not end persistence
                log.exception("saving %s failed", self.path)
            wait = max(interval, 5 * (time.monotonic() - started))  # scanning never takes over 1/6 of the time


# --------------------------------------------------------------------------- moto server

# Operations that cannot change what is persisted; anything else counts as a write.
_READ_ONLY_PREFIXES = (
    "Get", "BatchGet", "TransactGet", "Describe", "List", "Scan", "Query",
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateRandom", "Sign", "Verify",
)  # fmt: skip


class _WriteCounter:
    """WSGI middleware: applies one AWS request at a time and counts those that may write.

    DynamoDB applies each conditional write atomically; moto takes no locks, so
    two racing ``consume`` calls could both pass their condition.  Applying
    requests one at a time restores DynamoDB's guarantee for the local stack.
    The count lets an idle stack go unscanned.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._apply = threading.Lock()
        self.count = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._apply:
            response = self._app(environ, start_response)  # the backend has applied the request by now
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if not operation.startswith(_READ_ONLY_PREFIXES):
            with self._lock:
                self.count += 1
        return response


_one_server_per_process = threading.Lock()


class _MotoServer:
    """moto's server in a thread of this process.

    Unlike ``ThreadedMotoServer`` it binds before returning (a busy port fails at
    once instead of hanging), logs no line per request and counts writes.
    moto's backends are process-global, so only one may run at a time and
    ``stop`` resets them: a restart in the same process starts empty, like a new
    ``make run``.
    """

    def __init__(self, host: str, port: int) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                """Every AWS call of the app would otherwise print a line."""

        if not _one_server_per_process.acquire(blocking=False):
            raise RuntimeError("an embedded AWS already runs in this process (moto's backends are process-global)")
        try:
            self._counter = _WriteCounter(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(host, port, self._counter, threaded=True, request_handler=QuietHandler)
        except SystemExit as busy:  # werkzeug exits the process when the port is taken; a library must not
            _one_server_per_process.release()
            raise OSError(f"cannot listen on {host}:{port}: the port is in use") from busy
        except BaseException:
            _one_server_per_process.release()
            raise
        self.host, self.port = host, int(self._server.server_address[1])
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)  # stop() returns promptly
        self._thread = threading.Thread(target=serve, name="moto", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def writes(self) -> int:
        return self._counter.count

    def stop(self) -> None:
        try:
            _request(self.host, self.port, "POST", "/moto-api/reset")
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            _one_server_per_process.release()


def _request(host: str, port: int, method: str, path: str, timeout: float = 5.0) -> int:
    """One request on a fresh connection; the HTTP status."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# --------------------------------------------------------------------------- environment


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """Dummy credentials and the moto endpoint, for every AWS client of the local stack."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,  # a profile's endpoint or credentials must not leak in
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _overriding(name: str) -> bool:
    """Variables that would win over ours: a named profile or a per-service endpoint."""
    return name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") or name.startswith("AWS_ENDPOINT_URL_")


@contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` (and drop overriding variables) in os.environ; put back exactly what was there."""
    touched = {name for name in os.environ if _overriding(name)} | set(values)
    previous = {name: os.environ.get(name) for name in touched}
    for name in touched:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _fresh_app_clients() -> None:
    """chalicelib caches settings and boto3 clients: forget them when the endpoint changes."""
    from chalicelib import services

    services.reset()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (tests run in parallel)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------- stacks


@dataclass(frozen=True)
class LocalAws:
    """A running embedded AWS.

    ``env`` holds what any process needs to use it: ``AWS_ENDPOINT_URL``, dummy
    credentials, region, and the app settings naming the tables and secrets.
    """

    endpoint_url: str
    port: int
    env: dict[str, str]
    applied: AppliedTemplate
    state_file: Path
    _persistence: _Persistence = field(repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client bound to this embedded AWS."""
        return _session().client(service, endpoint_url=self.endpoint_url)

    def save(self) -> bool:
        """Save the state file now, if anything changed (the background saver does it every few seconds)."""
        return self._persistence.save()


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing", region_name=REGION
    )


@contextmanager
def local_aws(
    aws_port: int = DEFAULT_AWS_PORT,
    state_dir: Path | str = DEFAULT_STATE_DIR,
    *,
    save_interval: float = 2.0,
    parameters: Mapping[str, str] | None = None,
) -> Iterator[LocalAws]:
    """moto on ``127.0.0.1:aws_port`` (0: any free port) with the template applied and state restored.

    On entry: applies ``resources.yaml``, restores ``state_dir/state.json`` if
    present, fills the signing-key secret on the first start, and sets
    ``LocalAws.env`` in ``os.environ`` (restored on exit).  On exit: saves the
    state, then stops moto and resets its (process-global) backends.  One per
    process at a time; not inside ``moto.mock_aws()``.
    """
    server = _MotoServer(HOST, aws_port)
    try:
        env = aws_environment(server.url)
        with _patched_environ(env):
            clients = _Clients.create(_session(), server.url)
            applied = _apply(load_template(), clients, parameters or {})
            env.update(applied.settings_env())
            with (
                _patched_environ(env),
                _persisted(server, clients, applied, env, Path(state_dir), save_interval) as aws,
            ):
                yield aws
    finally:
        server.stop()


@contextmanager
def _persisted(
    server: _MotoServer, clients: _Clients, applied: AppliedTemplate, env: dict[str, str], state_dir: Path, every: float
) -> Iterator[LocalAws]:
    persistence = _Persistence(state_dir / STATE_FILE_NAME, clients, applied, server.writes)
    if persistence.restore():
        log.info("restored state from %s", persistence.path)
    _ensure_signing_keys()
    persistence.start(every)
    try:
        yield LocalAws(server.url, server.port, env, applied, persistence.path, persistence)
    finally:
        persistence.stop()
        _fresh_app_clients()


def _ensure_signing_keys() -> None:
    """First start: the template leaves the key secret empty; the app's own code fills it.

    ``KEY_MODE=kms`` creates KMS signing keys instead; moto's KMS keys are not
    saved in the state file, so in that mode keys are new on every start.
    """
    from chalicelib.keys.rotation import ensure_keys

    _fresh_app_clients()  # settings() now reads KEYS_SECRET_ID and KEY_MODE from the patched environment
    ensure_keys()


@dataclass(frozen=True)
class Stack:
    """A running local stack: the embedded AWS plus ``chalice local`` serving ``issuer``.

    ``env`` is the environment ``chalice local`` runs with; pass it to any child
    process (``python -m chalicelib.cli ...``) that should talk to this stack.
    """

    aws: LocalAws
    port: int
    issuer: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]


@contextmanager
def local_stack(
    port: int = DEFAULT_PORT,
    aws_port: int = DEFAULT_AWS_PORT,
    state_dir: Path | str = DEFAULT_STATE_DIR,
    *,
    save_interval: float = 2.0,
    startup_timeout: float = 60.0,
    output: IO[Any] | int | None = None,
) -> Iterator[Stack]:
    """Everything ``make run`` starts: :func:`local_aws`, then ``chalice local`` on ``127.0.0.1:port``.

    Returns once the server answers HTTP.  ``port=0`` / ``aws_port=0`` pick free
    ports.  The issuer is ``http://127.0.0.1:{port}``, so a test that restarts
    the stack and still verifies an old token must reuse the same ``port``
    (take one from :func:`free_port`) and the same ``state_dir``::

        port = free_port()
        with local_stack(port, 0, tmp_path) as stack:
            token = ...  # stack.issuer, stack.env for `python -m chalicelib.cli`
        with local_stack(port, 0, tmp_path) as stack:
            ...  # same clients, users, state items and signing keys

    On exit chalice is terminated, state saved and moto stopped.  ``output``
    receives chalice's stdout and stderr (default: inherited).
    """
    port = port or free_port()
    with local_aws(aws_port, state_dir, save_interval=save_interval) as aws:
        issuer = f"http://{HOST}:{port}"
        env = {**os.environ, **aws.env, "ISSUER_URL": issuer, "STAGE": "local", "PYTHONUNBUFFERED": "1"}
        process = _start_chalice(port, env, output)
        try:
            _wait_until_serving(port, process, startup_timeout)
            yield Stack(aws=aws, port=port, issuer=issuer, env=env, process=process)
        finally:
            _terminate(process)


def _chalice_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("chalice")
    launcher = [str(script)] if script.exists() else [sys.executable, "-c", "from chalice.cli import main; main()"]
    return [*launcher, "local", "--no-autoreload", "--host", HOST, "--port", str(port), "--stage", "local"]


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: chalice gets SIGTERM if we die (even kill -9), so it never holds the port afterwards."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def _start_chalice(port: int, env: dict[str, str], output: IO[Any] | int | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _chalice_command(port),
        cwd=REPO_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,  # Ctrl-C reaches us only; we stop chalice in order
        preexec_fn=_die_with_parent(),  # only a pre-resolved prctl call runs in the child: thread-safe enough
    )


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"chalice local exited with status {process.returncode} before serving")
        try:
            _request(HOST, port, "GET", "/.well-known/openid-configuration", timeout=2.0)
            return  # any HTTP answer means it serves
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"chalice local did not answer on port {port} within {timeout:.0f} s") from None
            time.sleep(0.1)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- python -m infra.local

_FIRST_CLIENT = (
    '{"client_name":"billing","grant_types":["client_credentials"],'
    '"scope":"invoices:read invoices:write","audience":["https://api.example.com"]}'
)


def _banner(stack: Stack) -> str:
    cli_prefix = "" if stack.aws.port == DEFAULT_AWS_PORT else f"AWS_PORT={stack.aws.port} "
    return "\n".join(
        (
            "",
            f"Tollgate is running. Issuer: {stack.issuer}",
            f"Embedded AWS: {stack.aws.endpoint_url}  (state saved in {stack.aws.state_file})",
            "",
            "Register a first client:",
            f"  {cli_prefix}.venv/bin/python -m chalicelib.cli clients create --json '{_FIRST_CLIENT}'",
            "then get a token with the client_id and client_secret it prints:",
            "  curl -u ID:SECRET -d grant_type=client_credentials -d scope=invoices:read"
            f" -d audience=https://api.example.com {stack.issuer}/oauth2/token",
            "",
            "Ctrl-C stops it; state is kept for the next start.",
        )
    )


def main() -> int:
    """``make run``: serve until Ctrl-C or SIGTERM, then save and stop; 0 on a clean stop."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)  # our own news, without botocore's
    port = int(os.environ.get("PORT") or DEFAULT_PORT)
    aws_port = int(os.environ.get("AWS_PORT") or DEFAULT_AWS_PORT)
    state_dir = Path(os.environ.get("TOLLGATE_STATE_DIR") or DEFAULT_STATE_DIR)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with local_stack(port, aws_port, state_dir) as stack:
        print(_banner(stack), flush=True)
        while not stopping.wait(0.5):
            if stack.process.poll() is not None:
                log.error("chalice local exited with status %s", stack.process.returncode)
                return 1
    log.info("stopped; state saved in %s", state_dir / STATE_FILE_NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
