"""The event and answer of the functions invoked with IAM (admin, interactions) and of the CLI.

An event is ``{"operation": "clients.create", "params": {...}}``; the answer is
``{"result": ...}`` or an RFC 6749 §5.2-shaped ``{"error": code,
"error_description": ...}``.  Bad input never raises (a key DynamoDB finds too
large is bad input too); a failure of AWS itself does, so the Lambda runtime
records it and the caller sees a function error.

Each function answers only the operations of its own table: the admin
function's (clients, users, keys) or the interactions function's (login,
consent and device challenges), so a caller allowed to invoke one cannot
reach the other's operations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import services
from chalicelib.oauth.errors import InvalidRequest, OAuthError

logger = logging.getLogger(__name__)

Params = Mapping[str, Any]
Operation = Callable[[Params], Any]


def dispatch(event: Any, operations: Mapping[str, Operation]) -> dict[str, Any]:
    """Run the event's operation from ``operations``; an RFC-style error object for any bad input."""
    try:
        operation, params = _parse_event(event, operations)
        logger.info("operation %s", operation)
        return {"result": operations[operation](params)}
    except OAuthError as error:
        return error.body()
    except Exception as unexpected:
        refused = services.refused_input(unexpected)
        if refused is None:
            raise
        return refused.body()


def _parse_event(event: Any, operations: Mapping[str, Operation]) -> tuple[str, Params]:
    if not isinstance(event, Mapping):
        raise InvalidRequest("the event must be an object with 'operation' and 'params'")
    operation = event.get("operation")
    params = event.get("params")
    params = {} if params is None else params
    if not isinstance(operation, str) or operation not in operations:
        raise InvalidRequest(f"unknown operation {operation!r}; known: {', '.join(sorted(operations))}")
    if not isinstance(params, Mapping):
        raise InvalidRequest("'params' must be an object")
    return operation, params
