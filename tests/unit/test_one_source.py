"""Issue 12 item 7: each constant has one source, so two copies can no longer drift apart.

Drift already happened once (``[::1]`` was a loopback host in one list and not
in the other); these tests count the places a value is written in the code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CODE = [path for folder in ("chalicelib", "infra") for path in (REPO / folder).rglob("*.py")] + [REPO / "app.py"]


def _docstring_lines(tree: ast.AST) -> set[int]:
    """Prose may name a value; only code counts."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            lines |= set(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return lines


def _places(pattern: str) -> list[str]:
    places = []
    for path in CODE:
        text = path.read_text()
        prose = _docstring_lines(ast.parse(text))
        for number, line in enumerate(text.splitlines(), 1):
            if number not in prose and not line.lstrip().startswith("#") and re.search(pattern, line):
                places.append(f"{path.relative_to(REPO)}:{number}")
    return sorted(places)


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("the KMS keyset tag", r'"tollgate-keyset"'),
        ("the RFC 6749 scope-token class", r"\\x21\\x23-\\x5b\\x5d-\\x7e"),
        ("the signing algorithms", r'"RS256", "ES256"'),
        ("the client authentication methods", r'"client_secret_basic", "client_secret_post"'),
        ("the loopback hosts", r'127\\\.0\\\.0|"\[::1\]"'),
        ("the login page path", r'"/ui/login"'),
        ("the consent page path", r'"/ui/consent"'),
        ("the authorization endpoint path", r'/oauth2/auth[?"]'),
        ("the device verification path", r"/oauth2/device/verify"),
        ("the logout path", r"/oauth2/sessions/logout"),
        ("the deployed function name tollgate-STAGE-FUNCTION", r"-\{stage\}-"),
    ],
)
def test_a_constant_is_written_once(name: str, pattern: str) -> None:
    places = _places(pattern)
    assert len(places) == 1, f"{name} is written in {places}"
