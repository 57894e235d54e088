"""Signing-key rotation: the ``rotate_keys`` function's work, in either key mode (DESIGN §8).

A rotation promotes ``next -> current -> previous`` and creates a fresh
``next`` for every algorithm; on a stage without keys it creates the first
set.  The JWKS publishes all three statuses, so a token signed before a
rotation verifies until it expires, and a new signing key has been in every
verifier's cache for a whole period before it signs.

Only the ``rotate_keys`` Lambda may write keys (its IAM policy is the only
one allowing it).  It runs on ``KEY_ROTATION_SCHEDULE`` (default every 30
days) and on demand: the admin operations ``keys.rotate`` and ``keys.list``
call :func:`request`, which runs the operation in this process on the local
stage and otherwise invokes ``tollgate-{stage}-rotate_keys``, so the admin
function itself never holds a key.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.functions import ROTATE_KEYS, deployed_name
from chalicelib.keys import kms_mode, secrets_mode

ROTATE = "rotate"
LIST = "list"


class RotationFailed(Exception):
    """The rotate_keys function could not be reached or failed."""


def rotate() -> list[dict[str, Any]]:
    """Rotate (or create the first keys); the keys afterwards."""
    config = settings()
    if config.key_mode == "kms":
        kms_mode.rotate(config.kms_key_alias_prefix)
    else:
        secrets_mode.rotate_keyset(config.keys_secret_id)
    return list_keys()


def ensure_keys() -> None:
    """Create the first keys of the configured mode if there are none; otherwise change nothing."""
    config = settings()
    if config.key_mode == "kms":
        kms_mode.ensure_keys(config.kms_key_alias_prefix)
    else:
        secrets_mode.ensure_keyset(config.keys_secret_id)


def list_keys() -> list[dict[str, Any]]:
    """Public facts of every key: kid, alg, status, created_at (never private material)."""
    config = settings()
    if config.key_mode == "kms":
        return kms_mode.describe(config.kms_key_alias_prefix)
    keys = secrets_mode.read_keyset(config.keys_secret_id).get("keys", [])
    return [{name: key.get(name) for name in ("kid", "alg", "status", "created_at")} for key in keys]


OPERATIONS: dict[str, Callable[[], Any]] = {ROTATE: rotate, LIST: list_keys}


def handle(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The rotate_keys Lambda: a scheduled event (empty detail) rotates; ``{"operation": "list"}`` lists."""
    operation = detail.get("operation", ROTATE)
    if operation not in OPERATIONS:
        return {"error": "invalid_request", "error_description": f"unknown key operation {operation!r}"}
    return {"result": OPERATIONS[operation]()}


def request(operation: str) -> Any:
    """Run a key operation where keys may be written: here on ``local``, else in the rotate_keys Lambda."""
    config = settings()
    if config.is_local:
        return OPERATIONS[operation]()
    return invoke(deployed_name(config.stage, ROTATE_KEYS), operation)


def admin_event(operation: str) -> dict[str, Any]:
    """An EventBridge-shaped event (what a schedule delivers) carrying an operation in ``detail``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Tollgate key operation",
        "source": "tollgate.admin",
        "account": "",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "",
        "resources": [],
        "detail": {"operation": operation},
    }


def invoke(function_name: str, operation: str) -> Any:
    """Run ``operation`` in the deployed rotate_keys function ``function_name``; its result."""
    answer = aws.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(admin_event(operation)))
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError") or not isinstance(payload, dict) or "result" not in payload:
        raise RotationFailed(f"{function_name} failed: {payload!r}")
    return payload["result"]
