"""The one Chalice ``http`` middleware: security headers, then one log line and one metrics document.

One wrapper rather than two registered middlewares: Chalice builds its chain
of ``MiddlewareHandler`` objects on every request and calls through each; a
second layer cost about 0.4 µs per request on the bench machine (issue 13).
Small beside a token's ~250 µs, but for nothing one layer cannot do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.web import observability
from chalicelib.web.adapter import add_security_headers


def http(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Every HTTP request: answered, logged and counted (never a secret), then given the security headers."""
    return add_security_headers(observability.http_middleware(event, get_response))
