"""Unit tests of protocol rules that need no AWS: parameters, scopes, audiences, errors."""

from __future__ import annotations

import json

import pytest

from chalicelib.oauth.errors import InvalidClient, InvalidRequest, InvalidScope, InvalidTarget
from chalicelib.oauth.request import Params, Request
from chalicelib.oauth.scopes import parse_scope, resolve_audience, resolve_scope


def test_a_repeated_parameter_is_invalid_request():
    # RFC 6749 §3.1: parameters MUST NOT be included more than once.
    with pytest.raises(InvalidRequest):
        Params({"scope": ["a", "b"]}).check_no_duplicates()


def test_audience_may_repeat_and_may_be_space_separated():
    params = Params({"audience": ["https://a", "https://b https://c"]})
    params.check_no_duplicates()
    assert params.get_all("audience") == ["https://a", "https://b", "https://c"]


def test_empty_parameter_is_treated_as_omitted():
    # RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted".
    assert Params({"scope": [""]}).get("scope") is None


def test_form_requires_the_form_content_type():
    request = Request("POST", "/", {"content-type": "application/json"}, Params({}), body="{}")
    with pytest.raises(InvalidRequest):
        request.form()
    charset = Request("POST", "/", {"content-type": "application/x-www-form-urlencoded; charset=UTF-8"}, Params({}))
    assert "x" not in charset.form()


@pytest.mark.parametrize("scope", ["a  b", " a", 'a"b', "a\\b", "a\tb"])
def test_scope_tokens_follow_rfc6749_section_3_3(scope):
    with pytest.raises(InvalidScope):
        parse_scope(scope)


def test_requested_scope_must_be_a_subset_and_default_applies_when_omitted():
    allowed = frozenset({"a", "b"})
    assert resolve_scope(None, allowed, ["a", "b"]) == ("a", "b")
    assert resolve_scope("b", allowed, ["a"]) == ("b",)
    with pytest.raises(InvalidScope):
        resolve_scope("a c", allowed, [])


def test_audience_must_be_registered():
    assert resolve_audience(["https://a"], ("https://a", "https://b")) == ("https://a",)
    with pytest.raises(InvalidTarget):
        resolve_audience(["https://x"], ("https://a",))


def test_invalid_client_challenges_only_when_the_header_was_used():
    with_header = InvalidClient("x", used_header=True).to_response()
    assert with_header.status == 401 and with_header.headers["WWW-Authenticate"].startswith("Basic")
    assert "WWW-Authenticate" not in InvalidClient("x").to_response().headers
    assert json.loads(with_header.body) == {"error": "invalid_client", "error_description": "x"}


def test_error_detail_is_never_sent():
    response = InvalidRequest("shown", detail="secret internal detail").to_response()
    assert "secret internal detail" not in response.body
    assert response.headers["Cache-Control"] == "no-store"


def test_no_audience_requested_means_the_registered_audience():
    assert resolve_audience([], ("https://a", "https://b")) == ("https://a", "https://b")
    assert resolve_audience([], ()) == ()
