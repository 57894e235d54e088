"""Structured logs and CloudWatch metrics for every invocation (issue 5 item 6), with Powertools.

Why middleware: what an operator needs to see — which endpoint, which client,
which grant, success or which RFC error — can be read from the request and
the response, so the protocol core stays free of logging and metrics.  One
JSON log line per HTTP request, admin operation and key rotation, with the
request id; metrics go out as CloudWatch Embedded Metric Format lines on
stdout, which CloudWatch turns into metrics without any API call:

- ``TokensIssued`` by ``GrantType`` (token endpoint answered 200);
- ``Failures`` by ``Error`` (the RFC 6749 ``error`` code of any failed answer);
- ``Logins`` by ``Outcome`` and ``Consents`` by ``Decision`` (the default pages
  and the interactions function's accept / reject operations);
- ``KeyRotations`` (the rotate_keys function);
- ``KmsThrottled`` (``kms`` mode: KMS refused a ``Sign`` for the account's
  request quota; written where it happens, in ``chalicelib.keys.kms_mode``);
- ``KeyRefreshFailed`` (a container could not re-read its key set and kept
  the one it holds: ``chalicelib.keys.cached``).

What is never logged: tokens, client secrets, passwords, codes, cookies,
request bodies, query strings, headers, ``Location`` URLs, admin params.
Only named fields are written, each from an allow-list or a strict pattern:
a ``client_id`` only when the request got past client authentication, a
``grant_type`` only if it is one we know, an error code only if it looks
like one.

Powertools is imported on the first invocation, never at ``import app``
(it imports botocore, which a cold start should not pay for before it must).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib.metrics import emit_metric, one_document
from chalicelib.oauth import paths
from chalicelib.oauth.client_auth import decode_basic
from chalicelib.oauth.http import MAX_BODY_BYTES

SERVICE = "tollgate"

KNOWN_GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
)
# Errors raised before (or by) client authentication: the presented client_id is not trusted.
UNAUTHENTICATED_ERRORS = frozenset({"invalid_client", "invalid_request", "server_error"})

_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_TOKEN_PATH = paths.TOKEN
_LOGIN_PAGE = paths.LOGIN_PAGE
_CONSENT_PAGE = paths.CONSENT_PAGE
_CONSENT_DECISIONS = frozenset({"allow", "deny"})

# Operations (of the interactions function) that answer a login or consent challenge: (metric, dimension, value).
_ADMIN_INTERACTIONS: dict[str, tuple[str, str, str]] = {
    "login.accept": ("Logins", "Outcome", "success"),
    "login.reject": ("Logins", "Outcome", "rejected"),
    "consent.accept": ("Consents", "Decision", "allow"),
    "consent.reject": ("Consents", "Decision", "deny"),
}


class _Stdout(io.TextIOBase):
    """Whatever ``sys.stdout`` is at write time (Lambda: CloudWatch Logs; tests: the capture)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@lru_cache(maxsize=1)
def logger() -> Any:
    """The Powertools JSON logger, on the logger named like the service (Chalice's app logger too)."""
    from aws_lambda_powertools import Logger

    return Logger(service=_service(), stream=_Stdout())


# --------------------------------------------------------------------------- HTTP requests


@dataclass(frozen=True)
class RequestRecord:
    """The one log line of an HTTP request: nothing here can hold a secret."""

    endpoint: str
    method: str
    status: int
    outcome: str
    error: str | None
    client_id: str | None
    grant_type: str | None
    request_id: str | None
    duration_ms: float

    def log_fields(self) -> dict[str, Any]:
        """The line's own keys, in Powertools' order (``request_id`` first); cheaper than ``asdict``."""
        return {
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "method": self.method,
            "status": self.status,
            "outcome": self.outcome,
            "error": self.error,
            "client_id": self.client_id,
            "grant_type": self.grant_type,
            "duration_ms": self.duration_ms,
        }


def _form(request: Any) -> Mapping[str, list[str]]:
    """The form the handler parsed (``adapter.respond`` keeps its request); parsed here only if it did not."""
    protocol = getattr(request, "protocol_request", None)
    parsed = protocol.parsed_form() if protocol is not None else None
    if parsed is not None:
        return parsed
    if "application/x-www-form-urlencoded" not in (request.headers.get("content-type") or ""):
        return {}
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        return {}  # refused unread by the adapter (413): not parsed here either
    try:
        return parse_qs(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return {}


def _one(values: Mapping[str, list[str]], name: str) -> str | None:
    found = [value for value in values.get(name) or [] if value]  # RFC 6749 §3.1: blank is omitted
    return found[0] if len(found) == 1 else None


def _basic_client_id(request: Any) -> str | None:
    """The id half of ``Authorization: Basic``; the secret half is never even decoded into a name."""
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    decoded = decode_basic(credentials) if scheme.lower() == "basic" else None
    return decoded[0] if decoded else None


def _presented_client_id(request: Any, form: Mapping[str, list[str]]) -> str | None:
    query = request.query_params or {}
    candidate = _basic_client_id(request) or _one(form, "client_id") or query.get("client_id")
    return candidate if candidate and _CLIENT_ID.fullmatch(candidate) else None


def _response_error(response: Any) -> str | None:
    """The RFC 6749 ``error`` of a JSON error body or of an error redirect's query."""
    code = None
    if response.status_code >= 400 and isinstance(response.body, str) and response.body.startswith("{"):
        try:
            code = json.loads(response.body).get("error")
        except (ValueError, AttributeError):
            code = None
    elif 300 <= response.status_code < 400:
        location = {name.lower(): value for name, value in response.headers.items()}.get("location", "")
        split = urlsplit(location if isinstance(location, str) else "")
        code = (parse_qs(split.query).get("error") or parse_qs(split.fragment).get("error") or [None])[0]
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None


def _authenticated_client_id(
    request: Any, form: Mapping[str, list[str]], failed: bool, error: str | None
) -> str | None:
    """The client_id, once the answer shows the client got past authentication; else None."""
    if failed and (error is None or error in UNAUTHENTICATED_ERRORS):
        return None
    return _presented_client_id(request, form)


def _grant_type(path: str, form: Mapping[str, list[str]]) -> str | None:
    grant_type = _one(form, "grant_type") if path == _TOKEN_PATH else None
    if grant_type is None:
        return None
    return grant_type if grant_type in KNOWN_GRANT_TYPES else "other"


def _request_id(request: Any) -> str | None:
    """API Gateway's request id; under ``chalice local`` (no API Gateway) the invocation's."""
    return request.context.get("requestId") or _invocation_id(request.lambda_context)


def request_record(request: Any, response: Any, duration_ms: float) -> RequestRecord:
    form = _form(request)
    error = _response_error(response)
    failed = response.status_code >= 400 or error is not None
    path = str(request.context.get("resourcePath", ""))
    return RequestRecord(
        endpoint=path,
        method=str(request.method),
        status=int(response.status_code),
        outcome="error" if failed else "success",
        error=error or ("unknown" if failed else None),
        client_id=_authenticated_client_id(request, form, failed, error),
        grant_type=_grant_type(path, form),
        request_id=_request_id(request),
        duration_ms=round(duration_ms, 1),
    )


def _request_metrics(record: RequestRecord, request: Any) -> None:
    if record.outcome == "error" and record.error:
        emit_metric("Failures", Error=record.error)
    if record.endpoint == _TOKEN_PATH and record.status == 200 and record.grant_type:
        emit_metric("TokensIssued", GrantType=record.grant_type)
    if record.method != "POST":
        return
    if record.endpoint == _LOGIN_PAGE:
        outcome = "success" if 300 <= record.status < 400 else "locked" if record.status == 429 else "failure"
        emit_metric("Logins", Outcome=outcome)
    elif record.endpoint == _CONSENT_PAGE and 300 <= record.status < 400:
        decision = _one(_form(request), "decision")
        if decision in _CONSENT_DECISIONS:
            emit_metric("Consents", Decision=decision)


def http_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice ``http`` middleware: one log line and one metrics document per request."""
    with one_document():
        return _logged_request(event, get_response)


def _logged_request(event: Any, get_response: Callable[[Any], Any]) -> Any:
    log = logger()
    started = time.perf_counter()
    log.thread_safe_append_keys(request_id=_request_id(event))  # on the lines written deeper, too
    try:
        response = get_response(event)
    finally:
        log.thread_safe_remove_keys(["request_id"])
    record = request_record(event, response, (time.perf_counter() - started) * 1000)
    if log.isEnabledFor(logging.INFO):
        sys.stdout.write(json_line(record.log_fields()))
    _request_metrics(record, event)
    return response


def json_line(fields: Mapping[str, Any]) -> str:
    """The line Powertools' Logger would write, built as one dict and serialised once.

    Same keys, same order, ``None`` left out, the same timestamp format and the
    X-Ray trace id when Lambda sets one; without the Powertools formatter, a
    ``LogRecord`` and ``findCaller``, which together cost about five times as
    much per request (issue 13).
    """
    line: dict[str, Any] = {
        "level": "INFO",
        "location": "http_middleware",
        "message": "request",
        "timestamp": _timestamp(time.time()),
        "service": _service(),
    }
    line.update((name, value) for name, value in fields.items() if value is not None)
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    if trace:
        line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "")
    return json.dumps(line, separators=(",", ":")) + "\n"


def _timestamp(now: float) -> str:
    """Powertools' default: ``2026-12-02 01:11:54,175+0000`` (local time, milliseconds, offset)."""
    stamp = time.localtime(now)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', stamp)},{int(now % 1 * 1000):03d}{time.strftime('%z', stamp)}"


def _service() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE


# --------------------------------------------------------------------------- other functions


def _invocation_id(lambda_context: Any) -> str | None:
    return getattr(lambda_context, "aws_request_id", None)


def admin_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice ``pure_lambda`` middleware (admin, interactions): function, operation and outcome, never params."""
    with one_document():
        return _logged_operation(event, get_response)


def _logged_operation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    raw = event.event if isinstance(event.event, Mapping) else {}
    operation = raw.get("operation") if isinstance(raw.get("operation"), str) else None
    answer = get_response(event)
    error = answer.get("error") if isinstance(answer, Mapping) else None
    logger().info(
        "admin operation",
        extra={
            "function": getattr(event.context, "function_name", None),
            "operation": operation if operation and _ERROR_CODE.fullmatch(operation.replace(".", "_")) else None,
            "outcome": "error" if error else "success",
            "error": error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None,
            "request_id": _invocation_id(event.context),
        },
    )
    if error:
        emit_metric("Failures", Error=str(error))
    elif operation in _ADMIN_INTERACTIONS:
        metric, dimension, value = _ADMIN_INTERACTIONS[operation]
        emit_metric(metric, **{dimension: value})
    return answer


def schedule_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice ``scheduled`` middleware (the rotate_keys function): which keys, not their material."""
    with one_document():
        return _logged_rotation(event, get_response)


def _logged_rotation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    answer = get_response(event)
    detail = getattr(event, "detail", None) or {}
    operation = detail.get("operation", "rotate") if isinstance(detail, Mapping) else "rotate"
    keys = answer.get("result") if isinstance(answer, Mapping) else None
    published = [
        {name: key.get(name) for name in ("kid", "alg", "status")} for key in keys or [] if isinstance(key, Mapping)
    ]
    logger().info(
        "key operation",
        extra={
            "operation": operation if operation in ("rotate", "list", "revoke") else None,
            "error": answer.get("error") if isinstance(answer, Mapping) else None,
            "keys": published,
            "request_id": _invocation_id(event.context),
        },
    )
    if operation == "rotate" and isinstance(answer, Mapping) and "result" in answer:
        emit_metric("KeyRotations")
    return answer
