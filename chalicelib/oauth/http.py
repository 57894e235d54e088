"""Framework-free HTTP request and response for the protocol core.

The web layer turns a Chalice request into :class:`Request` and a
:class:`Response` back into a Chalice response; nothing below this module
knows which framework or cloud it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping
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
