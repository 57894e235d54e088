"""infra/waf.yaml: per-address rate limits on the endpoints an abuser would pick, matched on the normalised path.

WAF evaluates the text transformations a statement declares, in priority
order, then the regular expression.  These tests read both from the template
and apply them the way WAF documents them, so what is asserted is what an
attacker meets: however a path is spelled (percent-encoded, doubled slashes,
``./`` and ``../``, capitals, a trailing slash, behind the stage prefix or a
custom domain), the request is counted by the rule for its endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from infra.guards import WAF_TEMPLATE_PATH
from infra.template import load_template

WAF = load_template(WAF_TEMPLATE_PATH)
RULES = {rule["Name"]: rule for rule in WAF["Resources"]["WebAcl"]["Properties"]["Rules"]}
PARAMETERS = WAF["Parameters"]


def _normalize_path(path: str) -> str:
    """WAF's NORMALIZE_PATH: no repeated slashes, no ``./``, and ``x/../`` resolved (never above the root)."""
    trailing = path.endswith("/")
    segments: list[str] = []
    for segment in re.sub("/+", "/", path).split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments) + ("/" if trailing and segments else "")


TRANSFORMATIONS = {"URL_DECODE": unquote, "NORMALIZE_PATH": _normalize_path, "LOWERCASE": str.lower}


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every match statement with a ``FieldToMatch`` anywhere in ``node``."""
    if isinstance(node, dict):
        if "FieldToMatch" in node:
            yield node
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def counts(rule: str, path: str) -> bool:
    """Whether WAF would count a request for ``path`` against ``rule`` (its scope-down statement)."""
    statement = RULES[rule]["Statement"]["RateBasedStatement"].get("ScopeDownStatement")
    if statement is None:
        return True
    match = statement["RegexMatchStatement"]
    for step in sorted(match["TextTransformations"], key=lambda step: step["Priority"]):
        path = TRANSFORMATIONS[step["Type"]](path)
    return re.search(match["RegexString"], path) is not None


def disguises(path: str) -> list[str]:
    """``path`` as an attacker might write it; API Gateway routes each one (or refuses it) all the same."""
    head, _, last = path.rpartition("/")
    first = path.split("/")[1]
    return [
        path,
        f"/api{path}",  # the execute-api URL carries the stage
        f"/api{path}/",
        f"/api/{path}",
        f"/api{head}//{last}",
        f"/api{head}/./{last}",
        f"/api/x/..{path}",
        f"/api{head}/%{ord(last[0]):02X}{last[1:]}",
        f"/api{head}%2F{last}",
        f"/api{path.upper()}",
        f"/api/{first.capitalize()}{path[len(first) + 1 :]}",
    ]


EXPECTED = {
    "authorize-per-ip": ["/oauth2/auth"],
    "token-per-ip": ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"],
    "device-per-ip": ["/oauth2/device/auth", "/oauth2/device/verify"],
    "ui-per-ip": ["/ui/login", "/ui/consent", "/ui/logout", "/ui/anything"],
}
ELSEWHERE = ["/.well-known/jwks.json", "/userinfo", "/oauth2/sessions/logout", "/oauth2/authx", "/oauth2/tokens"]


def test_the_rules_are_one_rate_limit_per_abused_endpoint_and_one_for_the_whole_api():
    assert set(RULES) == {*EXPECTED, "requests-per-ip"}
    assert sorted(rule["Priority"] for rule in RULES.values()) == list(range(len(RULES)))
    assert "ScopeDownStatement" not in RULES["requests-per-ip"]["Statement"]["RateBasedStatement"]


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_each_rule_counts_its_endpoints_however_the_path_is_spelled(rule):
    for path in EXPECTED[rule]:
        for disguised in disguises(path):
            assert counts(rule, disguised), (rule, disguised)


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_each_rule_counts_nothing_else(rule):
    others = [path for name, paths in EXPECTED.items() if name != rule for path in paths] + ELSEWHERE
    for path in others:
        for disguised in disguises(path):
            assert not counts(rule, disguised), (rule, disguised)


def test_every_path_match_is_url_decoded_then_normalised_then_lowercased():
    statements = list(_statements(WAF["Resources"]))
    assert len(statements) == len(EXPECTED)
    for statement in statements:
        assert statement["FieldToMatch"] == {"UriPath": {}}
        steps = sorted(statement["TextTransformations"], key=lambda step: step["Priority"])
        assert [step["Type"] for step in steps] == ["URL_DECODE", "NORMALIZE_PATH", "LOWERCASE"]
        assert statement["RegexString"] == statement["RegexString"].lower()  # it meets lowercased paths


def test_every_rule_blocks_per_source_address_past_a_limit_the_stage_sets():
    for name, rule in RULES.items():
        assert rule["Action"] == {"Block": {}}, name
        rate = rule["Statement"]["RateBasedStatement"]
        assert rate["AggregateKeyType"] == "IP", name
        assert rate["EvaluationWindowSec"] == 300, name
        parameter = PARAMETERS[rate["Limit"]["Ref"]]
        assert parameter["Type"] == "Number" and parameter["MinValue"] >= 10, name  # WAF's lowest limit
        assert parameter["Default"] >= parameter["MinValue"], name
