"""Reading IAM policies in tests: which function may do which action on which resource.

Deliberately simple: ``Allow`` statements only (Tollgate's policies have no
``Deny``), ``fnmatch`` for IAM's ``*`` and ``?`` wildcards, conditions
ignored (so "may it?" answers yes whenever a condition could let it through,
which makes every "never" assertion stricter, not weaker).  Resources are
compared as written: ``${ClientsTable.Arn}`` in a packaged template, a real
ARN in a deploy-time policy file.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_text(resource: Any) -> str:
    """A resource as written: the string itself, or the text of its ``Fn::Sub``."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if isinstance(resource, str):
        return resource
    raise AssertionError(f"unexpected resource form {resource!r}")


@dataclass(frozen=True)
class Grant:
    action: str
    resource: str
    conditioned: bool


def grants(statements: Iterable[dict[str, Any]]) -> list[Grant]:
    found = []
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                found.append(Grant(action, resource_text(resource), "Condition" in statement))
    return found


def may(statements: Iterable[dict[str, Any]], action: str, resource: str) -> bool:
    """Could ``action`` on ``resource`` be allowed by these statements?"""
    return any(
        fnmatch.fnmatchcase(action.lower(), grant.action.lower()) and fnmatch.fnmatchcase(resource, grant.resource)
        for grant in grants(statements)
    )
