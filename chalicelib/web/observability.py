"""Structured logs and CloudWatch metrics for every invocation (issue 5 item 6).

The protocol core says what a request came to, one
:class:`~chalicelib.oauth.events.Outcome` per request (issue 12 item 5,
oidc-provider's ``grant.success`` / ``authorization.error``); this module
only writes it down.  It parses no body, no credentials, no JSON answer and
no ``Location``, and keeps no list of paths or grant types: what it does not
get from the core it does not log.  One JSON log line per HTTP request, admin
operation and key rotation, with the request id; metrics go out as CloudWatch
Embedded Metric Format lines on stdout, which CloudWatch turns into metrics
without any API call:

- ``TokensIssued`` by ``GrantType`` (the token endpoint issued a token);
- ``Failures`` by ``Error`` (the RFC 6749 ``error`` code of any failed answer;
  ``unknown`` only for an answer no handler of ours made, such as Chalice's 405);
- ``Logins`` by ``Outcome`` and ``Consents`` by ``Decision`` (the default pages
  and the interactions function's accept / reject operations);
- ``KeyRotations`` (the rotate_keys function);
- ``KmsThrottled`` (``kms`` mode: KMS refused a ``Sign`` for the account's
  request quota; written where it happens, in ``chalicelib.keys.kms_mode``);
- ``KeyRefreshFailed`` (a container could not re-read its key set and kept
  the one it holds: ``chalicelib.keys.cached``).

What is never logged: tokens, client secrets, passwords, codes, cookies,
request bodies, query strings, headers, ``Location`` URLs, admin params.  An
outcome holds none of them by construction (codes and names from fixed sets,
a client's id once it authenticated).

The lines are the JSON Powertools' Logger wrote (the same keys; ``POWERTOOLS_LOG_LEVEL`` and
``POWERTOOLS_SERVICE_NAME`` still set the level and service), written by the standard library's
``logging``: importing Powertools cost a cold start 20-40 ms (and pulled in botocore) for a formatter
(issue 13).
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
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from chalicelib.config import container_setting
from chalicelib.metrics import emit_metric, one_document
from chalicelib.oauth.events import Outcome
from chalicelib.tokens import json_text
from chalicelib.web.adapter import outcome_of

SERVICE = "tollgate"
UNKNOWN_ERROR = "unknown"  # a failed answer no handler of ours made (Chalice's own 404/405/500)

_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


# The request a line written deeper belongs to (Powertools' ``thread_safe_append_keys``).
_request_id: ContextVar[str | None] = ContextVar("tollgate_request_id", default=None)

# What every LogRecord has; anything else on a record came as ``extra`` and is written as its own key.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class _Stdout(io.TextIOBase):
    """Whatever ``sys.stdout`` is at write time (Lambda: CloudWatch Logs; tests: the capture)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class JsonLines(logging.Formatter):
    """Powertools' JSON line for a record: level, location, message, timestamp, service, X-Ray trace,
    request id, the ``extra`` keys, and ``exception`` / ``exception_name`` when there is one; no ``None``."""

    def format(self, record: logging.LogRecord) -> str:
        line = _head(record.levelname, f"{record.funcName}:{record.lineno}", record.getMessage(), record.created)
        line["xray_trace_id"] = _trace_id()
        line["request_id"] = _request_id.get()
        line.update((name, value) for name, value in vars(record).items() if name not in _RECORD_ATTRIBUTES)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
            line["exception_name"] = record.exc_info[0].__name__
        written = {name: value for name, value in line.items() if value is not None}
        return json.dumps(written, default=str, separators=(",", ":"))


@lru_cache(maxsize=1)
def logger() -> logging.Logger:
    """The logger named like the service (Chalice's app logger too), writing JSON lines to stdout.

    Its own handler and no propagation: Lambda's runtime handler on the root
    logger would write each line a second time, in plain text (Powertools
    filtered them out of the root's handlers instead).
    """
    log = logging.getLogger(_service())
    handler = logging.StreamHandler(_Stdout())
    handler.setFormatter(JsonLines())
    log.addHandler(handler)
    log.setLevel(logging.getLevelNamesMapping().get(os.environ.get("POWERTOOLS_LOG_LEVEL", "").upper(), logging.INFO))
    log.propagate = False
    return log


# --------------------------------------------------------------------------- HTTP requests


def http_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice ``http`` middleware: one log line and one metrics document per request."""
    with one_document():
        return _logged_request(event, get_response)


def _logged_request(event: Any, get_response: Callable[[Any], Any]) -> Any:
    log = logger()
    started = time.perf_counter()
    request_id = _request_id_of(event)
    on_lines_deeper = _request_id.set(request_id)
    try:
        response = get_response(event)
    finally:
        _request_id.reset(on_lines_deeper)
    outcome = outcome_of(event) or Outcome()
    status = int(response.status_code)
    error = outcome.error or (UNKNOWN_ERROR if status >= 400 else None)
    if log.isEnabledFor(logging.INFO):
        fields = {
            "request_id": request_id,
            "endpoint": str(event.context.get("resourcePath", "")),
            "method": str(event.method),
            "status": status,
            "outcome": "error" if error else "success",
            "error": error,
            "client_id": outcome.client_id,
            "grant_type": outcome.grant_type,
            "subject_kind": outcome.subject_kind,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        sys.stdout.write(json_line(fields))
    request_metrics(outcome, error)
    return response


def request_metrics(outcome: Outcome, error: str | None) -> None:
    """The counts one request adds: its failure, the token it issued, a sign-in or a consent decision."""
    if error:
        emit_metric("Failures", Error=error)
    if outcome.subject_kind and outcome.grant_type and not error:  # a token was issued and reached the client
        emit_metric("TokensIssued", GrantType=outcome.grant_type)
    if outcome.login:
        emit_metric("Logins", Outcome=outcome.login)
    if outcome.consent:
        emit_metric("Consents", Decision=outcome.consent)


def _request_id_of(request: Any) -> str | None:
    """API Gateway's request id; under ``chalice local`` (no API Gateway) the invocation's."""
    return request.context.get("requestId") or _invocation_id(request.lambda_context)


def json_line(fields: Mapping[str, Any]) -> str:
    """The line Powertools' Logger would write, built as one dict and serialised once.

    Same keys, same order, ``None`` left out, the same timestamp format and the
    X-Ray trace id when Lambda sets one; without the Powertools formatter, a
    ``LogRecord`` and ``findCaller``, which together cost about five times as
    much per request (issue 13).
    """
    line = _head("INFO", "http_middleware", "request", time.time())
    for name, value in fields.items():
        if value is not None:
            line[name] = value
    trace = _trace_id()
    if trace:
        line["xray_trace_id"] = trace
    return json_text.compact(line) + "\n"


def _head(level: str, location: str, message: str, now: float) -> dict[str, Any]:
    """The keys every line starts with, in Powertools' order."""
    return {
        "level": level,
        "location": location,
        "message": message,
        "timestamp": _timestamp(now),
        "service": _service(),
    }


def _trace_id() -> str | None:
    """The X-Ray trace id Lambda sets per invocation, as Powertools wrote it."""
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    return trace.split(";")[0].replace("Root=", "") if trace else None


# The last second formatted (second, date and time, offset): a busy container formats each second once.
_last_second: tuple[int, str, str] = (-1, "", "")


def _timestamp(now: float) -> str:
    """Powertools' default: ``2026-12-02 01:11:54,175+0000`` (local time, milliseconds, offset)."""
    global _last_second
    second, last = int(now), _last_second
    if last[0] != second:
        stamp = time.localtime(second)
        last = _last_second = (second, time.strftime("%Y-%m-%d %H:%M:%S", stamp), time.strftime("%z", stamp))
    return f"{last[1]},{int(now % 1 * 1000):03d}{last[2]}"


def _service() -> str:
    return container_setting("POWERTOOLS_SERVICE_NAME", SERVICE)


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
    elif operation is not None:
        request_metrics(_operation_outcome(operation), None)
    return answer


def _operation_outcome(operation: str) -> Outcome:
    """What a successful operation counts as: the interactions operations say so themselves."""
    from chalicelib.headless import OUTCOMES

    return OUTCOMES.get(operation) or Outcome()


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
