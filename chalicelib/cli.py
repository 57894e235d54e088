"""The command line (DESIGN §5): ``python -m chalicelib.cli [--stage STAGE] GROUP ACTION ...``.

Each command becomes one event (see :mod:`chalicelib.operations`) for one
function: ``login|consent|device`` commands for the interactions function
(:mod:`chalicelib.headless`), every other command for the admin function
(:mod:`chalicelib.admin`).  With ``--stage local`` (the default) the event
runs in this process against the embedded AWS of ``make run``; any other
stage invokes that stage's deployed Lambda, ``tollgate-{stage}-admin`` or
``tollgate-{stage}-interactions``, through IAM.  Both paths take the same
event and give the same answer, so the CLI behaves the same everywhere.

The result is printed as JSON on stdout.  An error is one line on stderr,
``error: <code>: <description>``, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pynamodb.exceptions import PynamoDBException

from chalicelib import admin, aws, headless
from chalicelib.functions import ADMIN, INTERACTIONS, deployed_name

EXIT_ERROR = 2
LOCAL_STAGE = "local"

Event = dict[str, Any]
Invoke = Callable[[Event], dict[str, Any]]
ParamsOf = Callable[[argparse.Namespace], dict[str, Any]]

# What answers each function's events in this process (the local stage).
HANDLERS: dict[str, Invoke] = {ADMIN: admin.handle, INTERACTIONS: headless.handle}


class CliError(Exception):
    """A failure reported as ``error: <code>: <description>``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def main(argv: Sequence[str] | None = None, *, invoke: Invoke | None = None) -> int:
    """Run one command; ``invoke`` replaces the stage's transport (tests)."""
    args = build_parser().parse_args(argv)
    try:
        event = {"operation": args.operation, "params": args.params(args)}
        answer = (invoke or transport(args.stage, args.function))(event)
    except CliError as error:
        return _fail(error.error, error.description)
    if "error" in answer:
        return _fail(str(answer["error"]), str(answer.get("error_description", "")))
    print(json.dumps(answer.get("result"), indent=2))
    return 0


def _fail(error: str, description: str) -> int:
    print(f"error: {error}: {' '.join(description.splitlines())}", file=sys.stderr)
    return EXIT_ERROR


# --- commands ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="Administer Tollgate.")
    parser.add_argument(
        "--stage",
        default=LOCAL_STAGE,
        help="'local' (default) uses the running `make run` stack; any other stage invokes its Lambda functions",
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for add_group in GROUPS:
        add_group(groups)
    return parser


def _command(
    actions: argparse._SubParsersAction,
    name: str,
    operation: str,
    params: ParamsOf,
    summary: str,
    function: str = ADMIN,
) -> argparse.ArgumentParser:
    """Declare ``name`` as ``function``'s ``operation`` whose params ``params`` builds from the arguments."""
    parser = actions.add_parser(name, help=summary, description=summary)
    parser.set_defaults(operation=operation, params=params, function=function)
    return parser


def _clients(groups: argparse._SubParsersAction) -> None:
    clients = groups.add_parser("clients", help="register and manage OAuth clients (RFC 7591 metadata)")
    actions = clients.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = _command(actions, "create", "clients.create", _metadata_params, "register a client")
    create.add_argument("--json", dest="metadata", required=True, metavar="METADATA", help="client metadata object")

    for name, operation, summary in (
        ("get", "clients.get", "show a client's metadata (never its secret)"),
        ("delete", "clients.delete", "delete a client"),
    ):
        _command(actions, name, operation, _client_id_params, summary).add_argument("client_id", metavar="CLIENT_ID")

    rotate = _command(
        actions, "rotate-secret", "clients.rotate_secret", _rotate_params, "issue a new client secret (shown once)"
    )
    rotate.add_argument("client_id", metavar="CLIENT_ID")
    rotate.add_argument(
        "--keep-old-for",
        type=int,
        metavar="SECONDS",
        help="keep accepting the old secret this long (at most 30 days), so clients can roll over; "
        "without it the old secret stops at once",
    )

    _command(actions, "list", "clients.list", _no_params, "list every client")

    update = _command(actions, "update", "clients.update", _update_params, "replace a client's metadata")
    update.add_argument("client_id", metavar="CLIENT_ID")
    update.add_argument("--json", dest="metadata", required=True, metavar="METADATA", help="the full new metadata")


def _users(groups: argparse._SubParsersAction) -> None:
    users = groups.add_parser("users", help="manage the built-in user store of the default login page")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _command(actions, "create", "users.create", _user_params, "add a user (prints it without the password)")
    create.add_argument("--username", required=True)
    password = create.add_mutually_exclusive_group(required=True)
    password.add_argument(
        "--password", help="for scripts and tests only: the password lands in shell history and process lists"
    )
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (hashed with scrypt; never stored or shown)",
    )
    create.add_argument("--email")
    create.add_argument("--email-verified", action="store_true", help="the email is known to be the user's")
    create.add_argument("--name", help="full name (the OIDC `name` claim)")
    for name, operation, summary in (
        ("disable", "users.disable", "refuse the user's sign-in and sign them out everywhere"),
        ("enable", "users.enable", "let a disabled user sign in again (ended sessions and tokens stay ended)"),
        ("sign-out", "users.sign_out", "end every session and revoke every grant of a person (any sub)"),
    ):
        _command(actions, name, operation, _user_id_params, summary).add_argument("user_id", metavar="ID")


def _user_id_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"user_id": args.user_id}


def _consents(groups: argparse._SubParsersAction) -> None:
    consents = groups.add_parser("consents", help="a person's remembered consents")
    actions = consents.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, operation, summary in (
        ("list", "consents.list", "list a person's remembered consents"),
        ("revoke", "consents.revoke", "forget a person's consents and revoke their grants (of one client)"),
    ):
        command = _command(actions, name, operation, _consent_params, summary)
        command.add_argument("--user", dest="user_id", required=True, metavar="ID", help="the person's sub")
        command.add_argument("--client", dest="client_id", metavar="ID", help="only this client")


def _consent_params(args: argparse.Namespace) -> dict[str, Any]:
    params = {"user_id": args.user_id}
    return params if args.client_id is None else {**params, "client_id": args.client_id}


def _user_params(args: argparse.Namespace) -> dict[str, Any]:
    password = _password_from_stdin() if args.password_stdin else args.password
    params: dict[str, Any] = {"username": args.username, "password": password}
    optional = {"email": args.email, "name": args.name, "email_verified": args.email_verified or None}
    return {**params, **{name: value for name, value in optional.items() if value is not None}}


# A line this long is no password (the user store takes at most 1024 characters): read no further.
_STDIN_LINE_LIMIT = 64 * 1024


def _password_from_stdin() -> str:
    """The first line of standard input, UTF-8, without its line end (LF or CRLF); spaces are the password's.

    Read before anything is sent, so a password that is empty or not UTF-8 costs no AWS call.
    """
    line = sys.stdin.buffer.readline(_STDIN_LINE_LIMIT)
    if line.endswith(b"\n"):
        line = line.removesuffix(b"\n").removesuffix(b"\r")
    try:
        password = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError("invalid_request", "--password-stdin read a password that is not UTF-8") from None
    if not password:
        raise CliError("invalid_request", "--password-stdin read an empty password")
    return password


def _keys(groups: argparse._SubParsersAction) -> None:
    keys = groups.add_parser("keys", help="signing keys: rotate, list next/current/previous, or revoke one")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    _command(actions, "rotate", "keys.rotate", _no_params, "promote next -> current -> previous, add a new next")
    _command(actions, "list", "keys.list", _no_params, "list every published key (kid, alg, status)")
    revoke = _command(
        actions, "revoke", "keys.revoke", _kid_params, "emergency: remove a key from signing and the JWKS now"
    )
    revoke.add_argument("kid", metavar="KID")


def _challenges(groups: argparse._SubParsersAction) -> None:
    """``login|consent|device get|accept|reject CHALLENGE [--json BODY]``: the headless contract (Hydra's names).

    These run in the interactions function, as a team's login app calls them; never in the admin function.
    """
    groups_of_challenges = (
        ("login", "answer login challenges"),
        ("consent", "answer consent challenges"),
        ("device", "answer device challenges (RFC 8628)"),
    )
    for group, summary in groups_of_challenges:
        actions = groups.add_parser(group, help=summary).add_subparsers(dest="action", required=True, metavar="ACTION")
        for action in ("get", "accept", "reject"):
            summary = f"{action} a {group} challenge"
            command = _command(actions, action, f"{group}.{action}", _challenge_params(group), summary, INTERACTIONS)
            command.add_argument("challenge", metavar="CHALLENGE")
            if action != "get":
                command.add_argument("--json", dest="body", default="{}", metavar="BODY", help="Hydra's request body")


def _challenge_params(group: str) -> ParamsOf:
    def params(args: argparse.Namespace) -> dict[str, Any]:
        body = _json_object(getattr(args, "body", "{}"))
        return {**body, f"{group}_challenge": args.challenge}

    return params


# One function per command group.
GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_clients, _users, _consents, _keys, _challenges)


def _no_params(args: argparse.Namespace) -> dict[str, Any]:
    return {}


def _client_id_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"client_id": args.client_id}


def _rotate_params(args: argparse.Namespace) -> dict[str, Any]:
    grace = {} if args.keep_old_for is None else {"keep_old_for": args.keep_old_for}
    return {**_client_id_params(args), **grace}


def _kid_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"kid": args.kid}


def _metadata_params(args: argparse.Namespace) -> dict[str, Any]:
    return _json_object(args.metadata)


def _update_params(args: argparse.Namespace) -> dict[str, Any]:
    """RFC 7592 §2.2: the new metadata with the ``client_id`` it replaces."""
    metadata = _json_object(args.metadata)
    if metadata.get("client_id", args.client_id) != args.client_id:
        raise CliError("invalid_client_metadata", "the client_id in --json differs from CLIENT_ID")
    return {**metadata, "client_id": args.client_id}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError("invalid_client_metadata", f"--json is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CliError("invalid_client_metadata", "--json must be a JSON object")
    return value


# --- transports ----------------------------------------------------------------------


def transport(stage: str, function: str = ADMIN) -> Invoke:
    """How an event reaches ``function``: its handler in this process on ``local``, else the deployed Lambda."""
    if stage == LOCAL_STAGE:
        return lambda event: run_locally(event, HANDLERS[function])
    return _lambda_invoker(deployed_name(stage, function))


def run_locally(event: Event, handler: Invoke) -> dict[str, Any]:
    """The operation in this process, against the embedded AWS of ``make run``."""
    endpoint = use_local_stack()
    _require_listening(endpoint)
    try:
        return handler(event)
    except BotoConnectionError:
        raise _not_running(endpoint) from None
    except (BotoCoreError, ClientError, PynamoDBException) as error:
        raise CliError("server_error", f"{type(error).__name__}: {error}") from None


def use_local_stack() -> str:
    """Point AWS at the local stack unless the environment says otherwise; the endpoint."""
    defaults = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{os.environ.get('AWS_PORT') or 4566}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in defaults.items():
        if not os.environ.get(name):
            os.environ[name] = value
    return os.environ["AWS_ENDPOINT_URL"]


def _require_listening(endpoint: str) -> None:
    """Fail fast, instead of after botocore's retries, when nothing listens at ``endpoint``."""
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2).close()
    except OSError:
        raise _not_running(endpoint) from None


def _not_running(endpoint: str) -> CliError:
    return CliError("server_error", f"cannot reach the local AWS at {endpoint}: is `make run` running?")


def _lambda_invoker(function_name: str) -> Invoke:
    def invoke(event: Event) -> dict[str, Any]:
        try:
            answer = aws.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        except (BotoCoreError, ClientError) as error:
            raise CliError("server_error", f"cannot invoke {function_name}: {error}") from None
        return _lambda_answer(function_name, answer)

    return invoke


def _lambda_answer(function_name: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The operation's result from a ``lambda.invoke`` response, or the function's failure as a ``CliError``."""
    try:
        payload = json.loads(answer["Payload"].read() or b"null")
    except ValueError:
        payload = None
    if answer.get("FunctionError"):
        failure = payload if isinstance(payload, dict) else {}
        kind, message = failure.get("errorType", "error"), failure.get("errorMessage", "")
        raise CliError("server_error", f"{function_name} failed: {kind}: {message}")
    if not isinstance(payload, dict) or not ({"result", "error"} & payload.keys()):
        raise CliError("server_error", f"{function_name} gave an unexpected answer")
    return payload


if __name__ == "__main__":
    sys.exit(main())
