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


def test_logins_and_consents_are_counted_from_pages_and_admin_answers(monkeypatch):
    emitted: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(observability, "emit_metric", lambda name, **dims: emitted.append((name, dims)))

    def record(path: str, status: int) -> observability.RequestRecord:
        return observability.RequestRecord(path, "POST", status, "success", None, None, None, "r", 1.0)

    consent = SimpleNamespace(
        headers={"content-type": "application/x-www-form-urlencoded"},
        raw_body=b"consent_challenge=c&decision=allow&csrf_token=t",
    )

    observability._request_metrics(record("/ui/login", 303), None)
    observability._request_metrics(record("/ui/login", 200), None)
    observability._request_metrics(record("/ui/login", 429), None)
    observability._request_metrics(record("/ui/consent", 303), consent)

    event = SimpleNamespace(event={"operation": "login.accept", "params": {"subject": "u"}}, context=None)
    observability.admin_middleware(event, lambda _: {"result": {"redirect_to": "https://x"}})
    assert emitted == [
        ("Logins", {"Outcome": "success"}),
        ("Logins", {"Outcome": "failure"}),
        ("Logins", {"Outcome": "locked"}),
        ("Consents", {"Decision": "allow"}),
        ("Logins", {"Outcome": "success"}),
    ]


def test_error_codes_are_read_from_error_redirects_but_never_the_location():
    denied = "https://app.example.com/cb?error=access_denied&state=s&iss=x"
    response = SimpleNamespace(status_code=302, body="", headers={"Location": denied})
    assert observability._response_error(response) == "access_denied"
    response.headers = {"Location": "https://app.example.com/cb?code=tg_ac_secret&state=s"}
    assert observability._response_error(response) is None


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
        ("Failures", {"Stage": "local", "Error": "unknown"}),
        ("Logins", {"Stage": "local", "Outcome": "failure"}),
    ]


def test_a_token_request_body_is_parsed_once(app_client, captured, monkeypatch):
    """The log line and metrics read the form the token endpoint parsed; they do not parse the body again."""
    import chalicelib.oauth.http as oauth_http

    client = admin(app_client, "clients.create", grant_types=["client_credentials"], scope="a")["result"]
    body = "grant_type=client_credentials&scope=a"
    parsed: list[str] = []
    for module in (oauth_http, observability):
        real = module.parse_qs

        def spy(raw: str, *args: Any, real: Any = real, **kwargs: Any) -> Any:
            parsed.append(raw)  # a spy only: the real parser still answers
            return real(raw, *args, **kwargs)

        monkeypatch.setattr(module, "parse_qs", spy)
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
