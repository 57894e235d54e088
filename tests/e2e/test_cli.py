"""The command line of DESIGN §5 (chalicelib.cli): its output, its errors, and both transports."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import admin, cli
from infra.local import apply_template

ROOT = Path(__file__).resolve().parents[2]
WEB = {"client_name": "Web app", "redirect_uris": ["https://app.example.com/cb"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(*args: str, aws_port: int, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m chalicelib.cli ARGS < stdin`` with a clean AWS environment aimed at ``aws_port``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["AWS_PORT"] = str(aws_port)
    command = [sys.executable, "-m", "chalicelib.cli", *args]
    return subprocess.run(command, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=60)


def assert_one_line_error(process: subprocess.CompletedProcess[str], prefix: str) -> None:
    assert process.returncode == 2
    assert process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith(prefix), lines[0]


# --- errors before any AWS call (subprocess) ----------------------------------------------


@pytest.fixture(scope="module")
def closed_port() -> int:
    return free_port()


@pytest.mark.parametrize("text", ["{", "not json", "{'single': 'quotes'}"])
def test_bad_json_is_one_line_and_exit_2(closed_port, text):
    process = run_cli("clients", "create", "--json", text, aws_port=closed_port)
    assert_one_line_error(process, "error: invalid_client_metadata: --json is not valid JSON")


@pytest.mark.parametrize("text", ["[]", '"x"', "42", "null"])
def test_json_that_is_not_an_object_is_refused(closed_port, text):
    process = run_cli("clients", "update", "some-id", "--json", text, aws_port=closed_port)
    assert_one_line_error(process, "error: invalid_client_metadata: --json must be a JSON object")


def test_stopped_local_stack_is_one_line_not_a_traceback(closed_port):
    process = run_cli("clients", "list", aws_port=closed_port)
    assert_one_line_error(process, "error: server_error: cannot reach the local AWS")
    assert "is `make run` running?" in process.stderr


def test_usage_errors_exit_2(closed_port):
    assert run_cli("clients", "create", aws_port=closed_port).returncode == 2  # --json is required
    assert run_cli("clients", "get", aws_port=closed_port).returncode == 2  # CLIENT_ID is required
    assert run_cli("clients", "fly", aws_port=closed_port).returncode == 2


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n"])
def test_an_empty_password_on_stdin_is_refused_before_any_aws_call(closed_port, stdin):
    process = run_cli("users", "create", "--username", "u", "--password-stdin", aws_port=closed_port, stdin=stdin)
    assert_one_line_error(process, "error: invalid_request: --password-stdin read an empty password")


def test_a_password_on_stdin_that_is_not_utf8_is_one_line_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9 au lait\n")))
    assert cli.main(["users", "create", "--username", "u", "--password-stdin"], invoke=pytest.fail) == 2
    assert capsys.readouterr().err == "error: invalid_request: --password-stdin read a password that is not UTF-8\n"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--password", "p", "--password-stdin"], "not allowed with argument"),
        ([], "one of the arguments --password --password-stdin is required"),
    ],
)
def test_users_create_takes_exactly_one_of_password_and_password_stdin(closed_port, flags, message):
    process = run_cli("users", "create", "--username", "u", *flags, aws_port=closed_port, stdin="p\n")
    assert process.returncode == 2 and process.stdout == ""
    assert message in process.stderr


# --- against a local stack (a moto server subprocess, as `make run` starts) -----------------


@pytest.fixture(scope="module")
def local_stack() -> Iterator[int]:
    """A moto server with every resource of infra/resources.yaml, as `make run` starts it; its port."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        apply_template(session=session, endpoint_url=f"http://127.0.0.1:{port}")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_until_listening(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto server did not listen on {port}")


def test_unknown_field_is_one_line_and_exit_2(local_stack):
    process = run_cli("clients", "create", "--json", json.dumps({**WEB, "colour": "blue"}), aws_port=local_stack)
    assert_one_line_error(process, "error: invalid_client_metadata: unknown client metadata field: colour")


def test_invalid_redirect_uri_is_one_line_and_exit_2(local_stack):
    metadata = json.dumps({"redirect_uris": ["http://app.example.com/cb"]})
    process = run_cli("clients", "create", "--json", metadata, aws_port=local_stack)
    assert_one_line_error(process, "error: invalid_redirect_uri: redirect_uris: 'http://app.example.com/cb'")


def test_unknown_client_is_one_line_and_exit_2(local_stack):
    assert_one_line_error(run_cli("clients", "get", "nope", aws_port=local_stack), "error: not_found:")


def test_client_lifecycle_against_the_local_stack(local_stack):
    created = run_cli("clients", "create", "--json", json.dumps(WEB), aws_port=local_stack)
    assert created.returncode == 0, created.stderr
    registered = json.loads(created.stdout)
    client_id = registered["client_id"]
    assert registered["client_secret"]
    assert created.stdout.startswith('{\n  "')  # indent 2

    shown = json.loads(run_cli("clients", "get", client_id, aws_port=local_stack).stdout)
    assert "client_secret" not in shown and shown["client_name"] == "Web app"

    listed = json.loads(run_cli("clients", "list", aws_port=local_stack).stdout)
    assert client_id in [c["client_id"] for c in listed]

    update = json.dumps({**WEB, "client_name": "Renamed"})
    updated = json.loads(run_cli("clients", "update", client_id, "--json", update, aws_port=local_stack).stdout)
    assert updated["client_name"] == "Renamed"

    rotated = json.loads(run_cli("clients", "rotate-secret", client_id, aws_port=local_stack).stdout)
    assert rotated["client_secret"] != registered["client_secret"]

    deleted = json.loads(run_cli("clients", "delete", client_id, aws_port=local_stack).stdout)
    assert deleted == {"client_id": client_id, "deleted": True}


def test_users_create_reads_the_password_from_stdin_and_that_password_signs_in(local_stack, monkeypatch):
    from chalice.test import Client

    from app import app
    from chalicelib import services
    from tests.http.test_ui_pages import login_page, sign_in

    password = "  spaces and \\ kept: only the line end goes  "
    command = ("users", "create", "--username", "stdin-user", "--password-stdin")
    created = run_cli(*command, aws_port=local_stack, stdin=f"{password}\r\nsecond line, never read\n")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["username"] == "stdin-user"
    assert "kept" not in created.stdout + created.stderr
    client = json.loads(run_cli("clients", "create", "--json", json.dumps(WEB), aws_port=local_stack).stdout)

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{local_stack}")
    services.reset()  # this process's app now runs against the same local stack
    try:
        with Client(app, stage_name="local") as http:
            page, challenge = login_page(http.http, client)
            assert sign_in(page, challenge, "stdin-user", password.strip()).status_code == 200  # wrong password
            assert sign_in(page, challenge, "stdin-user", password).status_code == 303
    finally:
        services.reset()


def test_the_readme_user_creation_example_works_as_written(local_stack):
    """The README's ``read -rs PW`` then ``printf ... | ... --password-stdin``, run by bash as a person would
    (a pipe from the ``printf`` builtin: the password is in no file and no process list)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    command = next(n for n, line in enumerate(lines) if "users create" in line and ".venv/bin/python" in line)
    assert lines[command - 1].startswith("read -rs PW"), lines[command - 1]
    script = "\n".join(lines[command - 1 : command + 1]).replace(".venv/bin/python", sys.executable)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["AWS_PORT"] = str(local_stack)
    run = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, input="a readme password\n", capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["username"]


# --- in process, under mock_aws ---------------------------------------------------------------


# `aws` (moto in-process with every resource of infra/resources.yaml) comes from conftest.py.


def test_main_creates_and_reads_a_client_in_process(aws, capsys):
    assert cli.main(["clients", "create", "--json", json.dumps(WEB)], invoke=admin.handle) == 0
    registered = json.loads(capsys.readouterr().out)
    assert registered["client_secret"]

    assert cli.main(["clients", "get", registered["client_id"]], invoke=admin.handle) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {k: v for k, v in registered.items() if k != "client_secret"}


def test_main_reports_admin_errors_on_one_line(aws, capsys):
    assert cli.main(["clients", "rotate-secret", "nope"], invoke=admin.handle) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: not_found: no client with client_id 'nope'\n"


def test_rotate_secret_keep_old_for_must_be_a_whole_number(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["clients", "rotate-secret", "c1", "--keep-old-for", "1h"], invoke=lambda e: {"result": {}})
    assert exit_.value.code == 2 and "--keep-old-for" in capsys.readouterr().err


def test_rotate_secret_with_grace_keeps_the_old_secret_in_process(aws, capsys):
    assert cli.main(["clients", "create", "--json", json.dumps(WEB)], invoke=admin.handle) == 0
    registered = json.loads(capsys.readouterr().out)
    argv = ["clients", "rotate-secret", registered["client_id"], "--keep-old-for", "600"]
    assert cli.main(argv, invoke=admin.handle) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["client_secret"] != registered["client_secret"]
    assert rotated["previous_client_secret_expires_at"] > 0


@pytest.mark.parametrize(
    ("argv", "event"),
    [
        (["clients", "create", "--json", '{"scope": "a"}'], {"operation": "clients.create", "params": {"scope": "a"}}),
        (["clients", "get", "c1"], {"operation": "clients.get", "params": {"client_id": "c1"}}),
        (["clients", "delete", "c1"], {"operation": "clients.delete", "params": {"client_id": "c1"}}),
        (["clients", "rotate-secret", "c1"], {"operation": "clients.rotate_secret", "params": {"client_id": "c1"}}),
        (
            ["clients", "rotate-secret", "c1", "--keep-old-for", "3600"],
            {"operation": "clients.rotate_secret", "params": {"client_id": "c1", "keep_old_for": 3600}},
        ),
        (["clients", "list"], {"operation": "clients.list", "params": {}}),
        (
            ["--stage", "prod", "clients", "update", "c1", "--json", '{"scope": "a"}'],
            {"operation": "clients.update", "params": {"client_id": "c1", "scope": "a"}},
        ),
    ],
)
def test_each_command_is_one_admin_event(argv, event, capsys):
    sent: list[dict[str, Any]] = []
    assert cli.main(argv, invoke=lambda e: sent.append(e) or {"result": {}}) == 0
    assert sent == [event]


# --- stages and transports --------------------------------------------------------------------


def test_challenge_commands_answer_locally_through_the_interactions_handler(local_stack):
    process = run_cli("login", "get", "no-such-challenge", aws_port=local_stack)
    assert_one_line_error(process, "error: not_found:")


def test_local_stack_defaults_fill_only_what_is_unset(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PORT", "4999")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert cli.use_local_stack() == "http://127.0.0.1:4999"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1234")
    assert cli.use_local_stack() == "http://127.0.0.1:1234"


class FakeLambda:
    def __init__(self, payload: bytes, function_error: str | None = None) -> None:
        self.payload = payload
        self.function_error = function_error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(self.payload)}
        if self.function_error:
            answer["FunctionError"] = self.function_error
        return answer


def use_fake_lambda(monkeypatch: pytest.MonkeyPatch, fake: FakeLambda) -> None:
    monkeypatch.setattr(cli.aws, "client", lambda service: fake if service == "lambda" else pytest.fail(service))


def test_other_stages_invoke_the_stage_admin_lambda_with_the_same_event(monkeypatch, capsys):
    fake = FakeLambda(json.dumps({"result": [{"client_id": "c1"}]}).encode())
    use_fake_lambda(monkeypatch, fake)
    assert cli.main(["--stage", "dev", "clients", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"client_id": "c1"}]
    assert [call["FunctionName"] for call in fake.calls] == ["tollgate-dev-admin"]
    assert json.loads(fake.calls[0]["Payload"]) == {"operation": "clients.list", "params": {}}


@pytest.mark.parametrize(
    ("argv", "function"),
    [
        (["login", "accept", "ch1", "--json", '{"subject": "u-1"}'], "tollgate-dev-interactions"),
        (["consent", "reject", "ch1"], "tollgate-dev-interactions"),
        (["device", "get", "ch1"], "tollgate-dev-interactions"),
        (["clients", "create", "--json", '{"scope": "a"}'], "tollgate-dev-admin"),
        (["users", "create", "--username", "u", "--password", "p"], "tollgate-dev-admin"),
        (["keys", "list"], "tollgate-dev-admin"),
    ],
)
def test_challenge_commands_invoke_the_interactions_lambda_and_the_rest_the_admin_lambda(monkeypatch, argv, function):
    fake = FakeLambda(json.dumps({"result": {}}).encode())
    use_fake_lambda(monkeypatch, fake)
    assert cli.main(["--stage", "dev", *argv]) == 0
    assert [call["FunctionName"] for call in fake.calls] == [function]


def test_lambda_admin_errors_read_like_local_ones(monkeypatch, capsys):
    payload = {"error": "invalid_client_metadata", "error_description": "unknown client metadata field: colour"}
    use_fake_lambda(monkeypatch, FakeLambda(json.dumps(payload).encode()))
    assert cli.main(["--stage", "prod", "clients", "create", "--json", '{"colour": "blue"}']) == 2
    assert capsys.readouterr().err == "error: invalid_client_metadata: unknown client metadata field: colour\n"


def test_lambda_function_failure_is_one_line(monkeypatch, capsys):
    crash = {"errorType": "ScanError", "errorMessage": "Failed to scan", "stackTrace": ["a", "b"]}
    use_fake_lambda(monkeypatch, FakeLambda(json.dumps(crash).encode(), function_error="Unhandled"))
    assert cli.main(["--stage", "prod", "clients", "list"]) == 2
    assert capsys.readouterr().err == "error: server_error: tollgate-prod-admin failed: ScanError: Failed to scan\n"


def test_update_refuses_a_different_client_id_in_the_json(capsys):
    assert cli.main(["clients", "update", "c1", "--json", '{"client_id": "c2"}'], invoke=pytest.fail) == 2
    assert capsys.readouterr().err.startswith("error: invalid_client_metadata: the client_id in --json differs")


def test_update_accepts_the_same_client_id_in_the_json():
    sent: list[dict[str, Any]] = []
    argv = ["clients", "update", "c1", "--json", '{"client_id": "c1", "scope": "a"}']
    assert cli.main(argv, invoke=lambda e: sent.append(e) or {"result": {}}) == 0
    assert sent[0]["params"] == {"client_id": "c1", "scope": "a"}
