"""Logs and metrics: one structured line per invocation, EMF metrics, and never a secret in any output."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib.config import settings
from chalicelib.keys.secrets_mode import read_keyset
from chalicelib.web import observability
from tests.conftest import FORM, basic
from tests.oauth_flow import REDIRECT_URI
from tests.page_flow import SCOPE, sign_in_through_pages

AUDIENCE = "https://api.example.com"


@pytest.fixture
def app_client(aws) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as client:
        yield client


@pytest.fixture
def captured(capsys, caplog):
    """Everything the functions write: stdout/stderr (Powertools, EMF) and every log record at INFO and above."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="tollgate")
    caplog.set_level(logging.DEBUG, logger="chalicelib")

    def read() -> tuple[list[str], list[dict[str, Any]]]:
        out, err = capsys.readouterr()
        lines = [*out.splitlines(), *err.splitlines(), *(record.getMessage() for record in caplog.records)]
        lines += [json.dumps(record.__dict__, default=str) for record in caplog.records]
        documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return lines, documents

    return read


def admin(app_client, operation: str, **params: Any) -> dict[str, Any]:
    """Through the admin Lambda (and its middleware), as an operator's CLI call would arrive."""
    return app_client.lambda_.invoke("admin", {"operation": operation, "params": params}).payload


def form_post(app_client, path: str, client: dict[str, Any], secret: str, **fields: str) -> Any:
    headers = {**FORM, "Authorization": basic(client["client_id"], secret)}
    return app_client.http.post(path, headers=headers, body=urlencode(fields))


def requests(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc.get("message") == "request"]


def metrics(documents: list[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """(metric name, dimensions) of every EMF line."""
    found = []
    for doc in documents:
        for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
            dimensions = {name: doc[name] for group in directive["Dimensions"] for name in group}
            found += [(metric["Name"], dimensions) for metric in directive["Metrics"]]
    return found


def run_every_machine_flow(app_client) -> list[str]:
    """Client create and rotate, JWT and opaque tokens, introspection, revocation, a wrong secret; the secrets."""
    issued: list[str] = []
    jwt_client = admin(app_client, "clients.create", grant_types=["client_credentials"], scope="a", audience=[AUDIENCE])
    opaque_client = admin(
        app_client, "clients.create", grant_types=["client_credentials"], scope="a", access_token_strategy="opaque"
    )["result"]
    jwt_client = jwt_client["result"]
    issued += [jwt_client["client_secret"], opaque_client["client_secret"]]
    for client in (jwt_client, opaque_client):
        secret = client["client_secret"]
        token = json.loads(
            form_post(app_client, "/oauth2/token", client, secret, grant_type="client_credentials").body
        )["access_token"]
        issued.append(token)
        assert json.loads(form_post(app_client, "/oauth2/introspect", client, secret, token=token).body)["active"]
        assert form_post(app_client, "/oauth2/revoke", client, secret, token=token).status_code == 200
    form_post(app_client, "/oauth2/token", jwt_client, "not-the-secret", grant_type="client_credentials")
    rotated = admin(app_client, "clients.rotate_secret", client_id=jwt_client["client_id"])["result"]
    issued.append(rotated["client_secret"])
    token = json.loads(
        form_post(app_client, "/oauth2/token", rotated, rotated["client_secret"], grant_type="client_credentials").body
    )["access_token"]
    issued.append(token)
    # The Authorization header values themselves, whole.
    issued += [basic(c["client_id"], c["client_secret"]).split(" ", 1)[1] for c in (jwt_client, opaque_client, rotated)]
    return issued


def test_flows_never_log_a_token_secret_password_or_private_key(app_client, captured, monkeypatch, cheap_passwords):
    from chalicelib.keys import rotation
    from chalicelib.keys.schedule import shortest_interval

    ready = int(time.time()) + shortest_interval(settings().key_rotation_schedule)  # the schedule's next run
    monkeypatch.setattr(rotation, "now", lambda: ready)
    issued = run_every_machine_flow(app_client)
    password = "correct horse battery staple 42"
    answer = admin(app_client, "users.create", username="ada", password=password)
    if answer.get("error") != "invalid_request" or "unknown operation" not in answer.get("error_description", ""):
        issued.append(password)
    rotation = app_client.lambda_.invoke("rotate_keys", _scheduled_event()).payload
    assert "result" in rotation
    private = ("d", "p", "q", "dp", "dq", "qi")
    issued += [key[name] for key in read_keyset(settings().keys_secret_id)["keys"] for name in private if name in key]
    pepper = _pepper()
    issued.append(pepper)

    lines, documents = captured()
    assert len(requests(documents)) >= 8  # the positive half: the flows were logged
    for secret in issued:
        for line in lines:
            assert secret not in line, f"a secret appears in: {line[:200]}"
            # Also not in the forms it travels in: URL-encoded and base64.
            assert base64.b64encode(secret.encode()).decode() not in line


def test_each_request_is_one_structured_line_with_endpoint_client_grant_and_outcome(app_client, captured):
    client = admin(app_client, "clients.create", grant_types=["client_credentials"], scope="a")["result"]
    form_post(app_client, "/oauth2/token", client, client["client_secret"], grant_type="client_credentials")
    form_post(app_client, "/oauth2/token", client, "wrong", grant_type="client_credentials")
    form_post(app_client, "/oauth2/token", client, client["client_secret"], grant_type="password")

    _, documents = captured()
    issued, failed, unsupported = requests(documents)[-3:]
    assert {key: issued[key] for key in ("endpoint", "method", "status", "outcome", "client_id", "grant_type")} == {
        "endpoint": "/oauth2/token",
        "method": "POST",
        "status": 200,
        "outcome": "success",
        "client_id": client["client_id"],
        "grant_type": "client_credentials",
    }
    assert issued["request_id"] and issued["service"] == "tollgate" and issued["level"] == "INFO"
    assert (failed["outcome"], failed["error"], failed.get("client_id")) == ("error", "invalid_client", None)
    assert (unsupported["error"], unsupported["client_id"]) == ("unsupported_grant_type", client["client_id"])
    assert unsupported["grant_type"] == "other"  # only grant types we know are written as given


def test_metrics_count_tokens_by_grant_type_and_failures_by_error(app_client, captured):
    client = admin(app_client, "clients.create", grant_types=["client_credentials"], scope="a")["result"]
    form_post(app_client, "/oauth2/token", client, client["client_secret"], grant_type="client_credentials")
    form_post(app_client, "/oauth2/token", client, "wrong", grant_type="client_credentials")
    app_client.http.post("/oauth2/introspect", headers=FORM, body="token=x")

    _, documents = captured()
    emitted = metrics(documents)
    assert ("TokensIssued", {"Stage": "local", "GrantType": "client_credentials"}) in emitted
    assert emitted.count(("Failures", {"Stage": "local", "Error": "invalid_client"})) == 2
    namespaces = {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in documents if "_aws" in d}
    assert namespaces == {"Tollgate"}


def test_admin_operations_are_logged_by_name_without_params(app_client, captured):
    admin(app_client, "clients.create", client_name="secret-project", grant_types=["client_credentials"])
    admin(app_client, "clients.get", client_id="nope")
    lines, documents = captured()
    logged = [doc for doc in documents if doc.get("message") == "admin operation"]
    assert [(doc["operation"], doc["outcome"], doc.get("error")) for doc in logged] == [
        ("clients.create", "success", None),
        ("clients.get", "error", "not_found"),
    ]
    assert not any("secret-project" in line for line in lines)


def test_login_app_operations_are_logged_with_the_function_that_ran_them(app_client, captured):
    event = {"operation": "login.get", "params": {"login_challenge": "nope"}}
    assert app_client.lambda_.invoke("interactions", event).payload["error"] == "not_found"
    admin(app_client, "clients.get", client_id="nope")
    _, documents = captured()
    logged = [doc for doc in documents if doc.get("message") == "admin operation"]
    assert [(doc["function"], doc["operation"], doc["error"]) for doc in logged] == [
        ("interactions", "login.get", "not_found"),
        ("admin", "clients.get", "not_found"),
    ]


def test_logins_and_consents_are_counted_from_the_outcomes_the_core_records(monkeypatch):
    from chalicelib.oauth.events import Outcome

    emitted: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(observability, "emit_metric", lambda name, **dims: emitted.append((name, dims)))

    observability.request_metrics(Outcome(login="success"), None)
    observability.request_metrics(Outcome(login="failure"), None)
    observability.request_metrics(Outcome(login="locked", error="invalid_request"), "invalid_request")
    observability.request_metrics(Outcome(consent="allow"), None)

    event = SimpleNamespace(event={"operation": "login.accept", "params": {"subject": "u"}}, context=None)
    observability.admin_middleware(event, lambda _: {"result": {"redirect_to": "https://x"}})
    assert emitted == [
        ("Logins", {"Outcome": "success"}),
        ("Logins", {"Outcome": "failure"}),
        ("Failures", {"Error": "invalid_request"}),
        ("Logins", {"Outcome": "locked"}),
        ("Consents", {"Decision": "allow"}),
        ("Logins", {"Outcome": "success"}),
    ]


def test_importing_app_loads_no_powertools():
    code = "import sys, app; print('aws_lambda_powertools' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def _scheduled_event() -> dict[str, Any]:
    return {
        "version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
        "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {},
    }  # fmt: skip


def _pepper() -> str:
    from chalicelib import aws

    return str(aws.client("secretsmanager").get_secret_value(SecretId=settings().pepper_secret_id)["SecretString"])


@pytest.mark.usefixtures("refresh_anytime")  # refreshes right after the exchange
def test_browser_sign_in_and_code_flow_never_log_a_password_code_cookie_or_token(app_client, captured, cheap_passwords):
    password = "correct horse battery staple 42"
    admin(app_client, "users.create", username="ada", password=password)
    client = admin(
        app_client,
        "clients.create",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        scope=SCOPE,
    )["result"]
    signed_in = sign_in_through_pages(app_client.http, client, "ada", password)

    lines, documents = captured()
    logged = {(doc["endpoint"], doc["method"], doc["outcome"]) for doc in requests(documents)}
    assert {("/ui/login", "POST", "success"), ("/oauth2/token", "POST", "success")} <= logged
    assert ("Logins", {"Stage": "local", "Outcome": "success"}) in metrics(documents)
    assert ("Consents", {"Stage": "local", "Decision": "allow"}) in metrics(documents)
    assert ("TokensIssued", {"Stage": "local", "GrantType": "refresh_token"}) in metrics(documents)
    for secret in [*signed_in.secrets, client["client_secret"]]:
        assert not any(secret in line for line in lines), f"a secret of the browser flow was logged: {secret[:12]}..."


def test_a_request_emits_one_metrics_document_with_all_its_metrics(app_client, captured):
    """EMF: a request's metrics are aggregated and written once, not one document per value (issue 13)."""
    captured()
    app_client.http.post("/ui/login", headers=FORM, body="login_challenge=x&username=ada&password=p&csrf_token=t")

    _, documents = captured()
    emf = [doc for doc in documents if "_aws" in doc]
    assert len(emf) == 1, emf
    assert sorted(metrics(emf)) == [
        ("Failures", {"Stage": "local", "Error": "invalid_request"}),
        ("Logins", {"Stage": "local", "Outcome": "failure"}),
    ]


def test_a_token_request_body_is_parsed_once(app_client, captured, monkeypatch):
    """The log line and metrics read the form the token endpoint parsed; they do not parse the body again."""
    import chalicelib.oauth.request as oauth_request

    client = admin(app_client, "clients.create", grant_types=["client_credentials"], scope="a")["result"]
    body = "grant_type=client_credentials&scope=a"
    parsed: list[str] = []
    # The core's form parser (chalicelib.oauth.http.parse_form, as Request.form calls it) and the stdlib's.
    for module, name in ((oauth_request, "parse_form"), (observability, "parse_qs")):
        real = getattr(module, name, None)
        if real is None:  # logs and metrics parse nothing (issue 12 item 5)
            continue

        def spy(raw: str, *args: Any, real: Any = real, **kwargs: Any) -> Any:
            parsed.append(raw)  # a spy only: the real parser still answers
            return real(raw, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    captured()
    headers = {**FORM, "Authorization": basic(client["client_id"], client["client_secret"])}
    assert app_client.http.post("/oauth2/token", headers=headers, body=body).status_code == 200

    _, documents = captured()
    assert parsed.count(body) == 1
    assert requests(documents)[-1]["grant_type"] == "client_credentials"
    assert ("TokensIssued", {"Stage": "local", "GrantType": "client_credentials"}) in metrics(documents)


def test_one_metrics_document_splits_only_where_emf_cannot_hold_two_values(capsys):
    from chalicelib.metrics import emit_metric, one_document

    capsys.readouterr()
    with one_document():
        emit_metric("Failures", Error="invalid_client")
        emit_metric("Failures", Error="invalid_client")
        emit_metric("KmsThrottled", Algorithm="RS256")
        emit_metric("Failures", Error="server_error")  # Error cannot hold two values in one document
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(documents) == 2
    first, second = documents
    assert (first["Failures"], first["KmsThrottled"], second["Failures"]) == ([1.0, 1.0], [1.0], [1.0])
    assert sorted(metrics(documents), key=repr) == [
        ("Failures", {"Stage": "local", "Error": "invalid_client"}),
        ("Failures", {"Stage": "local", "Error": "server_error"}),
        ("KmsThrottled", {"Stage": "local", "Algorithm": "RS256"}),
    ]


# ------------------------------------------------ outcomes come from the core (issue 12 item 5)


def test_a_page_error_logs_its_rfc_error_code(app_client, captured):
    """A refused form or an unknown client's authorization request: the page's own code, never "unknown"."""
    captured()
    app_client.http.post("/ui/login", headers=FORM, body="login_challenge=x&username=ada&password=p&csrf_token=t")
    app_client.http.get("/oauth2/auth?client_id=nobody&response_type=code")

    _, documents = captured()
    refused_form, unknown_client = requests(documents)[-2:]
    assert (refused_form["status"], refused_form["outcome"], refused_form["error"]) == (403, "error", "invalid_request")
    assert (unknown_client["status"], unknown_client["error"]) == (400, "invalid_request")
    assert ("Failures", {"Stage": "local", "Error": "invalid_request"}) in metrics(documents)
    assert ("Failures", {"Stage": "local", "Error": "unknown"}) not in metrics(documents)


def test_a_redirect_uri_with_its_own_error_parameter_does_not_turn_a_code_into_a_failure(app_client, captured):
    """RFC 6749 §3.1.2 lets a registered redirect URI carry a query: its ``error=`` is not Tollgate's answer."""
    from tests.oauth_flow import Browser, authorize_url, pkce_pair, sign_in

    redirect_uri = "https://app.example.com/cb?error=none"
    client = admin(
        app_client, "clients.create", redirect_uris=[redirect_uri], grant_types=["authorization_code"], scope="openid"
    )["result"]
    _, challenge = pkce_pair()
    url = authorize_url(
        client["client_id"],
        redirect_uri=redirect_uri,
        scope="openid",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    captured()
    answer = sign_in(Browser(app_client.http), url)
    assert answer["code"]

    _, documents = captured()
    code_redirect = requests(documents)[-1]
    assert (code_redirect["endpoint"], code_redirect["status"]) == ("/oauth2/auth", 302)
    assert (code_redirect["outcome"], code_redirect.get("error")) == ("success", None)
    assert not any(name == "Failures" for name, _ in metrics(documents))


def test_a_consent_denied_logs_access_denied_from_the_core(app_client, captured):
    from chalicelib import services
    from tests.oauth_flow import Browser, authorize_url, consent_challenge, login_challenge, pkce_pair

    client = admin(
        app_client, "clients.create", redirect_uris=[REDIRECT_URI], grant_types=["authorization_code"], scope="openid"
    )["result"]
    browser = Browser(app_client.http)
    flows = services.flows()
    _, challenge = pkce_pair()
    started = browser.get(
        authorize_url(client["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    )
    after_login = browser.get(flows.accept_login(login_challenge(started), subject="user-1"))
    captured()
    denied = browser.get(flows.reject_consent(consent_challenge(after_login)))
    assert "error=access_denied" in denied.headers["Location"]

    _, documents = captured()
    line = requests(documents)[-1]
    assert (line["status"], line["outcome"], line["error"], line["client_id"]) == (
        302, "error", "access_denied", client["client_id"]
    )  # fmt: skip
    assert ("Failures", {"Stage": "local", "Error": "access_denied"}) in metrics(documents)


def test_a_token_line_names_what_kind_of_subject_the_token_is_about(app_client, captured):
    client = admin(app_client, "clients.create", grant_types=["client_credentials"], scope="a")["result"]
    captured()
    form_post(app_client, "/oauth2/token", client, client["client_secret"], grant_type="client_credentials")
    form_post(app_client, "/oauth2/token", client, "wrong", grant_type="client_credentials")
    _, documents = captured()
    issued, refused = requests(documents)[-2:]
    assert issued["subject_kind"] == "client"
    assert "subject_kind" not in refused  # no token, no subject


def test_the_basic_header_is_decoded_once_per_request(app_client, captured, monkeypatch):
    """Logs and metrics take the authenticated client from the core; they decode no credentials themselves."""
    from chalicelib.oauth import client_auth

    client = admin(app_client, "clients.create", grant_types=["client_credentials"], scope="a")["result"]
    decoded: list[str] = []
    for module in (client_auth, observability):
        real = getattr(module, "decode_basic", None)
        if real is None:
            continue

        def spy(credentials: str, real: Any = real) -> Any:
            decoded.append(credentials)
            return real(credentials)

        monkeypatch.setattr(module, "decode_basic", spy)
    captured()
    form_post(app_client, "/oauth2/token", client, client["client_secret"], grant_type="client_credentials")
    _, documents = captured()
    assert len(decoded) == 1
    assert requests(documents)[-1]["client_id"] == client["client_id"]


def test_an_answer_chalice_makes_itself_still_gets_security_headers_a_line_and_unknown(app_client, captured):
    """A method no route takes: Chalice answers 405 before any handler of ours, so no outcome; still one line."""
    captured()
    response = app_client.http.request("DELETE", "/oauth2/token")
    assert response.status_code == 405
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")

    _, documents = captured()
    line = requests(documents)[-1]
    assert (line["endpoint"], line["status"], line["outcome"], line["error"]) == (
        "/oauth2/token",
        405,
        "error",
        "unknown",
    )
    assert "client_id" not in line and "grant_type" not in line


def test_a_wrong_device_code_logs_the_code_of_the_form_shown_again(app_client, captured):
    """The device page shows its form again (400) for a wrong code: the line carries its code, not "unknown"."""
    from tests.oauth_flow import Browser
    from tests.page_flow import _hidden

    browser = Browser(app_client.http)
    page = browser.get("/oauth2/device/verify")
    fields = {name: _hidden(page.body, name) for name in ("device_challenge", "csrf_token")}
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    captured()
    answer = app_client.http.post(
        "/oauth2/device/verify", headers={**FORM, "Cookie": cookie}, body=urlencode({**fields, "user_code": "BCDFGHJK"})
    )
    assert answer.status_code == 400

    _, documents = captured()
    assert (requests(documents)[-1]["status"], requests(documents)[-1]["error"]) == (400, "invalid_request")


def test_every_error_renderer_puts_its_code_on_the_answer():
    """JSON, page and redirect: whichever way an error is rendered, the answer carries its RFC code for the log."""
    from chalicelib.oauth.errors import AccessDenied, InvalidGrant, error_redirect
    from chalicelib.oauth.http import json_response

    assert InvalidGrant("used").to_response().error == "invalid_grant"
    assert InvalidGrant("used").to_page().error == "invalid_grant"
    redirected = AccessDenied().to_redirect("https://rp.example/cb", issuer="https://id.example", state=None)
    assert redirected.error == "access_denied"
    passed_on = error_redirect("https://rp.example/cb", {"error": "login_required"}, issuer="x", state=None)
    assert passed_on.error == "login_required"
    assert json_response({"access_token": "t"}).error is None


# ------------------------------------------------ logs without Powertools (issue 13 item 3: cold start)


def test_a_first_token_and_an_admin_operation_import_no_powertools():
    """Powertools' import cost a cold start 20-40 ms for a logger: the logs are written with the standard library."""
    from tests.http.test_cold_start import fresh_container

    status, admin_error, _, modules = fresh_container()
    assert (status, admin_error) == (200, "not_found")
    assert [name for name in modules if "powertools" in name] == []


def test_a_line_written_deeper_in_a_request_is_json_with_that_requests_id(app_client, captured):
    """The page's own refusal line (``tollgate.ui``): the same keys as the request line, and its request id."""
    captured()
    app_client.http.post("/ui/login", headers=FORM, body="login_challenge=x&username=ada&password=p&csrf_token=t")

    _, documents = captured()
    request = requests(documents)[-1]
    deeper = [doc for doc in documents if "message" in doc and doc["message"] != "request"]
    assert deeper, documents
    line = deeper[-1]
    assert {"level", "location", "message", "timestamp", "service", "request_id"} <= set(line)
    assert (line["level"], line["service"], line["request_id"]) == ("INFO", "tollgate", request["request_id"])
    assert line["location"].startswith("page_handler:") and "invalid_request" in line["message"]


def test_an_unhandled_error_is_one_json_line_with_the_exception_and_the_request_id(app_client, captured, register):
    """A 500's cause is logged (exception name and traceback) on the request's id; the answer says nothing of it."""
    from chalicelib import aws as aws_clients
    from chalicelib import services

    client = register(grant_types=["client_credentials"])
    services.reset()

    def broken(**_: Any) -> None:
        raise RuntimeError("the table is on fire")

    aws_clients.session().register("before-call.dynamodb.GetItem", broken)  # PynamoDB's client too
    captured()
    answer = form_post(app_client, "/oauth2/token", client, client["client_secret"], grant_type="client_credentials")
    assert answer.status_code == 500 and "fire" not in answer.body.decode()

    _, documents = captured()
    request = requests(documents)[-1]
    logged = [doc for doc in documents if doc.get("level") == "ERROR"]
    assert len(logged) == 1, documents
    line = logged[0]
    assert (line["exception_name"], line["request_id"]) == ("RuntimeError", request["request_id"])
    assert "the table is on fire" in line["exception"] and line["message"] == "unhandled error in /oauth2/token"


def test_the_api_declares_no_binary_media_types():
    """Every answer is text (JSON, forms, HTML): API Gateway never base64-encodes one, and Chalice checks no list."""
    import app

    assert app.app.api.binary_types == []
