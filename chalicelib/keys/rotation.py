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

The schedule rotates once per period: a run while the current key is
younger than the schedule's period (:mod:`chalicelib.keys.schedule`) is a
retry or a duplicate and is skipped (:func:`rotate_on_schedule`).

The pace: a ``next`` key signs only once it has been published for
``JWKS_MAX_AGE + KEY_CACHE_SECONDS`` (every container serves it, then every
relying party's JWKS cache holds it); a rotation before that is refused and
the schedule simply tries again at its next run.  The emergency path is
``keys.revoke`` (:func:`revoke`): the key leaves the set at once, tokens it
signed stop verifying, and a ``current`` key is replaced by its ``next``
without waiting.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import aws, clock
from chalicelib.config import Settings, settings
from chalicelib.functions import API_HANDLER, ROTATE_KEYS, deployed_name
from chalicelib.keys import kms_mode, schedule, secrets_mode
from chalicelib.keys.jwkset import NotYet
from chalicelib.keys.key_policy import KeyUsers
from chalicelib.metrics import emit_metric
from chalicelib.oauth.endpoints.jwks import JWKS_MAX_AGE
from chalicelib.oauth.errors import InvalidRequest, NotFound, OAuthError

logger = logging.getLogger(__name__)

ROTATE = "rotate"
LIST = "list"
REVOKE = "revoke"
KID_MAX_LENGTH = 256  # kids are 16 characters (secrets) or a 36-character KMS key id


class RotationFailed(Exception):
    """The rotate_keys function could not be reached or failed."""


def now() -> int:
    """The wall clock rotation reads (tests move it)."""
    return int(clock.now())


def pace(config: Settings) -> int:
    """Seconds a key is published before it may sign: every container serves it, then every JWKS cache holds it."""
    return JWKS_MAX_AGE + config.key_cache_seconds


def retention(config: Settings) -> int:
    """Seconds a retired key may still verify live tokens: stale containers sign with it, then tokens live on."""
    return config.key_cache_seconds + max(config.access_token_ttl, config.id_token_ttl)


def rotate() -> list[dict[str, Any]]:
    """Rotate (or create the first keys); the keys afterwards.  Refused while ``next`` is not yet known everywhere."""
    config = settings()
    try:
        _rotate(config, at_least=pace(config))
    except NotYet as refused:
        raise _too_soon(refused.ready_at) from None
    return list_keys()


def rotate_on_schedule() -> dict[str, Any]:
    """The schedule's run: a rotation, skipped while the current key is younger than the schedule's period.

    EventBridge delivers an event at least once and Lambda retries a failed
    asynchronous invocation, so a run may come twice: a second rotation
    minutes after the first would let a key published minutes earlier sign.
    The current key signs since its successor ``next`` was created (one
    rotation does both), so a run waits until that is a whole period ago
    (less a little slack for a run that starts late).  An operator's
    ``keys rotate`` is not held back by the period, only by the pace.
    """
    config = settings()
    interval = schedule.shortest_interval(config.key_rotation_schedule)
    spacing = interval - schedule.slack(interval)
    try:
        _rotate(config, at_least=max(pace(config), spacing))
    except NotYet as refused:
        when = _utc(refused.ready_at)
        logger.info("scheduled key rotation skipped: the current key is younger than the period; due from %s", when)
        emit_metric("KeyRotationSkipped")
        return {"skipped": f"the current key signs for less than {spacing} s; the next rotation is due from {when}"}
    return {"result": list_keys()}


def _rotate(config: Settings, *, at_least: int) -> None:
    """Rotate unless the ``next`` key (made by the last rotation) is younger than ``at_least`` seconds: ``NotYet``."""
    timing = {"now": now(), "pace": at_least, "retention": retention(config)}
    if config.key_mode == "kms":
        kms_mode.rotate_paced(config.kms_key_alias_prefix, **timing, users=key_users(config))
    else:
        secrets_mode.rotate_keyset(config.keys_secret_id, **timing)
    _forget_cached_keys()


def _utc(moment: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _too_soon(ready_at: int) -> InvalidRequest:
    when = _utc(ready_at)
    return InvalidRequest(
        f"rotation refused: the next key may sign from {when} ({ready_at - now()} s from now), once every "
        f"relying party can know it (or, in kms mode, once the previous key has outlived its tokens); "
        f"to take a compromised key out of use now, revoke it: keys revoke KID"
    )


def revoke(kid: Any) -> list[dict[str, Any]]:
    """Remove ``kid`` from signing and from the JWKS now; a revoked ``current`` is replaced by its ``next``."""
    if not isinstance(kid, str) or not kid or len(kid) > KID_MAX_LENGTH:
        raise InvalidRequest("kid must be a non-empty string naming a published key")
    config = settings()
    try:
        if config.key_mode == "kms":
            kms_mode.revoke(config.kms_key_alias_prefix, kid, key_users(config))
        else:
            secrets_mode.revoke_key(config.keys_secret_id, kid, now=now())
    except KeyError:
        raise NotFound(f"no published signing key with kid '{kid}'") from None
    _forget_cached_keys()
    return list_keys()


def _forget_cached_keys() -> None:
    """This container's verifiers stop trusting a revoked key at once (others within ``KEY_CACHE_SECONDS``)."""
    from chalicelib import services
    from chalicelib.keys.cached import CachedKeySet

    provider = services.key_provider()
    if isinstance(provider, CachedKeySet):
        provider.forget()


def key_users(config: Settings) -> KeyUsers | None:
    """The roles a new ``kms``-mode key's policy names; None on the local stage (the embedded AWS has no IAM).

    ``make package`` passes both ARNs (CloudFormation names the roles);
    ``chalice deploy`` names each function's role after the function, in
    the account STS reports (``GetCallerIdentity`` needs no permission).
    """
    if config.kms_signer_role_arn and config.kms_rotation_role_arn:
        return KeyUsers(config.kms_signer_role_arn, config.kms_rotation_role_arn)
    if config.is_local:
        return None
    _, partition, _, _, account, _ = aws.client("sts").get_caller_identity()["Arn"].split(":", 5)
    role = f"arn:{partition}:iam::{account}:role/"
    return KeyUsers(role + deployed_name(config.stage, API_HANDLER), role + deployed_name(config.stage, ROTATE_KEYS))


def ensure_keys() -> None:
    """Create the first keys of the configured mode if there are none; otherwise change nothing."""
    config = settings()
    if config.key_mode == "kms":
        kms_mode.ensure_keys(config.kms_key_alias_prefix, key_users(config))
    else:
        secrets_mode.ensure_keyset(config.keys_secret_id)


def list_keys() -> list[dict[str, Any]]:
    """Public facts of every key: kid, alg, status, created_at (never private material)."""
    config = settings()
    if config.key_mode == "kms":
        return kms_mode.describe(config.kms_key_alias_prefix)
    keys = secrets_mode.read_keyset(config.keys_secret_id).get("keys", [])
    return [{name: key.get(name) for name in ("kid", "alg", "status", "created_at")} for key in keys]


OPERATIONS: dict[str, Callable[..., Any]] = {ROTATE: rotate, LIST: list_keys, REVOKE: revoke}
PARAMS: dict[str, tuple[str, ...]] = {ROTATE: (), LIST: (), REVOKE: ("kid",)}
_ERRORS: dict[str, type[OAuthError]] = {error.error: error for error in (InvalidRequest, NotFound)}


def handle(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The rotate_keys Lambda: a scheduled event (empty detail) rotates once a period; ``{"operation": "list"}`` lists.

    A refusal (a rotation too soon, an unknown kid) is an answer, not a
    failure: the schedule logs it and tries again at its next run.
    """
    if "operation" not in detail:
        return rotate_on_schedule()
    operation = detail["operation"]
    if operation not in OPERATIONS:
        return {"error": "invalid_request", "error_description": f"unknown key operation {operation!r}"}
    try:
        return {"result": OPERATIONS[operation](*(detail.get(name) for name in PARAMS[operation]))}
    except OAuthError as refused:
        logger.warning("key operation %s refused: %s", operation, refused.description)
        return refused.body()


def request(operation: str, *args: Any) -> Any:
    """Run a key operation where keys may be written: here on ``local``, else in the rotate_keys Lambda."""
    config = settings()
    if config.is_local:
        return OPERATIONS[operation](*args)
    return invoke(deployed_name(config.stage, ROTATE_KEYS), operation, dict(zip(PARAMS[operation], args, strict=True)))


def admin_event(operation: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
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
        "detail": {"operation": operation, **(params or {})},
    }


def invoke(function_name: str, operation: str, params: Mapping[str, Any] | None = None) -> Any:
    """Run ``operation`` in the deployed rotate_keys function ``function_name``; its result, or its refusal raised."""
    event = admin_event(operation, params)
    answer = aws.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event))
    payload = json.loads(answer["Payload"].read() or b"null")
    if not answer.get("FunctionError") and isinstance(payload, dict) and payload.get("error") in _ERRORS:
        raise _ERRORS[payload["error"]](str(payload.get("error_description", "")))
    if answer.get("FunctionError") or not isinstance(payload, dict) or "result" not in payload:
        raise RotationFailed(f"{function_name} failed: {payload!r}")
    return payload["result"]
