"""The direct dispatch of ``chalicelib.web.dispatch`` answers exactly as ``Chalice.__call__`` would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice import BadRequestError, Chalice, CORSConfig, Response

from app import app
from bench.world import http_event
from chalicelib.web.adapter import ANY_CONTENT_TYPE
from chalicelib.web.dispatch import Tollgate
from tests.conftest import FORM, basic


class Context:
    function_name, memory_limit_in_mb, aws_request_id, invoked_function_arn = "api_handler", 1024, "req-1", ""


def both(target: Chalice, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer of the direct path and of Chalice's own, for one event."""
    return target(json.loads(json.dumps(event)), Context()), Chalice.__call__(target, event, Context())


def without_timing(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "headers": {k: v for k, v in answer["headers"].items() if k.lower() != "date"}}


def test_every_tollgate_route_is_dispatched_directly():
    """A route given Chalice CORS or content types would fall back to Chalice's chain: slower on every request."""
    for path, methods in app.routes.items():
        for method in methods:
            event = http_event(method, path)
            event["requestContext"]["resourcePath"] = path
            assert app._direct_route(event) is not None, f"{method} {path}"


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("GET", "/.well-known/openid-configuration", {}, None),
        ("GET", "/.well-known/jwks.json", {}, None),
        ("OPTIONS", "/oauth2/token", {"Origin": "https://spa.example"}, None),
        ("POST", "/oauth2/token", {**FORM, "Authorization": basic("nobody", "wrong")}, "grant_type=x"),
        ("POST", "/oauth2/token", {"Content-Type": "application/json"}, "{}"),
        ("GET", "/userinfo", {}, None),
        ("GET", "/oauth2/token", {}, None),  # no such method: Chalice's own 405
        ("DELETE", "/userinfo", {}, None),
    ],
)
def test_tollgate_routes_answer_as_chalice_would(aws, method, path, headers, body):
    direct, chalice = both(app, http_event(method, path, headers=headers, body=body))
    assert without_timing(direct) == without_timing(chalice)


def test_an_event_without_a_resource_path_gets_chalices_own_answer():
    event = {"requestContext": {}, "headers": {}}
    direct, chalice = both(app, event)
    assert direct == chalice
    assert direct["statusCode"] == 500


@pytest.fixture
def small_app() -> Tollgate:
    """An app of its own, with what the Tollgate routes never do: errors, path parameters, CORS, content types."""
    small = Tollgate("dispatch-test", configure_logs=False)
    small.api.binary_types = []
    small.seen: list[str] = []

    def tag(event: Any, get_response: Any) -> Any:
        small.seen.append("tag")
        response = get_response(event)
        response.headers["X-Tag"] = "1"
        return response

    small.register_middleware(tag, "http")

    @small.route("/items/{item}", content_types=ANY_CONTENT_TYPE)
    def item(item: str) -> dict[str, str]:
        return {"item": item}

    @small.route("/boom", content_types=ANY_CONTENT_TYPE)
    def boom() -> None:
        raise ValueError("no")

    @small.route("/bad", content_types=ANY_CONTENT_TYPE)
    def bad() -> None:
        raise BadRequestError("refused")

    @small.route("/split", content_types=ANY_CONTENT_TYPE)
    def split() -> Response:
        return Response("x", headers={"X-Split": "a\nb"})

    @small.route("/cors", cors=CORSConfig(allow_origin="https://spa.example"), content_types=ANY_CONTENT_TYPE)
    def with_cors() -> dict[str, bool]:
        return {"cors": True}

    @small.route("/anything", content_types=ANY_CONTENT_TYPE)
    def anything() -> Response:
        return Response(b"\x00\x01", headers={"content-TYPE": "*/*"})

    @small.route("/json-only", methods=["POST"])
    def json_only() -> dict[str, bool]:
        return {"json": True}

    return small


def small_event(method: str, template: str, path: str, **kwargs: Any) -> dict[str, Any]:
    event = http_event(method, path, **kwargs)
    event["requestContext"]["resourcePath"] = template
    return event


@pytest.mark.parametrize(
    ("method", "template", "path", "status"),
    [
        ("GET", "/items/{item}", "/items/42", 200),
        ("GET", "/boom", "/boom", 500),
        ("GET", "/bad", "/bad", 400),
        ("GET", "/split", "/split", 500),
        ("GET", "/cors", "/cors", 200),
        ("POST", "/json-only", "/json-only", 415),
        ("PUT", "/boom", "/boom", 405),
        ("GET", "/anything", "/anything", 400),  # a */* response is binary to Chalice: Accept must ask for it
    ],
)
def test_errors_path_parameters_cors_and_content_types_as_chalice(small_app, method, template, path, status):
    event = small_event(method, template, path, headers={"Content-Type": "text/plain"}, body="x")
    if template == "/items/{item}":
        event["pathParameters"] = {"item": "42"}
    direct, chalice = both(small_app, event)
    assert direct == chalice
    assert direct["statusCode"] == status


def test_a_middleware_registered_after_the_first_request_runs_from_the_next(small_app):
    event = small_event("GET", "/boom", "/boom")
    small_app(event, Context())

    def later(event: Any, get_response: Any) -> Any:
        small_app.seen.append("later")
        return get_response(event)

    small_app.register_middleware(later, "http")
    small_app.seen.clear()
    small_app(event, Context())
    assert small_app.seen == ["tag", "later"]


def test_a_binary_response_asked_for_is_base64_encoded_as_chalice_does(small_app):
    event = small_event("GET", "/anything", "/anything", headers={"Accept": "*/*"})
    direct, chalice = both(small_app, event)
    assert direct == chalice
    assert direct["statusCode"] == 200
    assert direct["isBase64Encoded"] is True
