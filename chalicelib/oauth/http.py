"""Framework-free HTTP request and response for the protocol core.

The web layer turns a Chalice request into :class:`Request` and a
:class:`Response` back into a Chalice response; nothing below this module
knows which framework or cloud it runs on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def no_store() -> dict[str, str]:
    """RFC 6749 §5.1: responses carrying tokens or credentials must not be cached."""
    return {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Response:
    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


def parse_form(raw: str) -> dict[str, list[str]]:
    """Decode an ``application/x-www-form-urlencoded`` body (or query string)."""
    return parse_qs(raw, keep_blank_values=True)


def json_response(body: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body), {"Content-Type": "application/json", **(headers or {})})
