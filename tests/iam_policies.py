"""Reading IAM policies in tests: which function may do which action on which resource.

Deliberately simple: ``fnmatch`` for IAM's ``*`` and ``?`` wildcards, and
an explicit ``Deny`` overrides any ``Allow``, as in IAM.  Without a request
context, conditions are ignored (so "may it?" answers yes whenever a
condition could let it through, and a conditioned ``Deny`` is assumed not to
apply, which makes every "never" assertion stricter, not weaker).  With one
(``context``: condition key -> value or list of values, as AWS would put in
the request), the conditions are evaluated with IAM's rules for the
operators our policies use; any other operator fails the test rather than
being guessed.  Resources are compared as written:
``${ClientsTable.Arn}`` in a packaged template, a real ARN in a deploy-time
policy file.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Context = Mapping[str, Any]


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
    condition: dict[str, Any] = field(default_factory=dict, compare=False)


def grants(statements: Iterable[dict[str, Any]], effect: str = "Allow") -> list[Grant]:
    """What the ``effect`` statements name, one action and resource at a time."""
    found = []
    for statement in statements:
        assert statement["Effect"] in ("Allow", "Deny"), statement
        if statement["Effect"] != effect:
            continue
        condition = statement.get("Condition", {})
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                found.append(Grant(action, resource_text(resource), "Condition" in statement, condition))
    return found


def may(statements: Iterable[dict[str, Any]], action: str, resource: str, context: Context | None = None) -> bool:
    """Could ``action`` on ``resource`` be allowed by these statements (in ``context``, when given)?"""
    statements = list(statements)

    def applies(grant: Grant, unknown: bool) -> bool:
        return (
            fnmatch.fnmatchcase(action.lower(), grant.action.lower())
            and fnmatch.fnmatchcase(resource, grant.resource)
            and (conditions_hold(grant.condition, context) if context is not None else unknown)
        )

    denied = any(applies(grant, not grant.conditioned) for grant in grants(statements, "Deny"))
    return not denied and any(applies(grant, True) for grant in grants(statements))


# --------------------------------------------------------------------------- conditions


def _values(context: Context, key: str) -> list[str] | None:
    """The request's values for ``key`` (condition keys are case-insensitive); None when absent."""
    for name, value in context.items():
        if name.lower() == key.lower():
            return [str(item) for item in _as_list(value)]
    return None


def _string_equals(present: list[str] | None, allowed: list[str]) -> bool:
    return present is not None and len(present) == 1 and present[0] in allowed


def _operator_holds(operator: str, key: str, allowed: list[str], context: Context) -> bool:
    present = _values(context, key)
    if operator == "StringEquals":
        return _string_equals(present, allowed)
    if operator == "StringNotEquals":  # true for an absent key, as IAM has every negated operator
        return present is None or not any(value in allowed for value in present)
    if operator == "StringEqualsIfExists":
        return present is None or _string_equals(present, allowed)
    if operator == "ForAllValues:StringEquals":  # true for an absent or empty key, as IAM has it
        return all(value in allowed for value in present or [])
    if operator == "Null":
        (expected,) = allowed
        return (present is None) == (expected == "true")
    raise AssertionError(f"tests/iam_policies.py cannot evaluate the operator {operator!r}: add it")


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    """Every operator and every key of an IAM ``Condition`` block holds (a key's values are alternatives)."""
    return all(
        _operator_holds(operator, key, [str(value) for value in _as_list(allowed)], context)
        for operator, keys in condition.items()
        for key, allowed in keys.items()
    )
