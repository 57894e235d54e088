"""The world a scenario runs in: one warm API handler on the embedded AWS inside this process.

The handler is called exactly as Lambda calls it, ``app(event, context)``
with an API Gateway REST proxy event, so a timing covers Chalice's routing,
our adapter, the protocol core and the storage calls, and nothing of an HTTP
server.  The embedded AWS is moto's ``mock_aws`` in this process with every
resource ``infra/resources.yaml`` declares; the environment carries dummy
credentials and no endpoint or profile, so no call can reach real AWS.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from unittest import mock
from urllib.parse import urlencode

ISSUER = "http://127.0.0.1:8000"
REGION = "us-east-1"
ABUSERS = ipaddress.IPv4Network("198.18.0.0/15")  # RFC 2544's benchmarking range: one address per abusive request
FORM = "application/x-www-form-urlencoded"

Event = dict[str, Any]
T = TypeVar("T")

# Dummy credentials; an empty config and credentials file so no profile can add a real one.
DUMMY_AWS_ENV: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
APP_ENV: Mapping[str, str] = {"STAGE": "local", "ISSUER_URL": ISSUER}


def _would_redirect(name: str) -> bool:
    """Variables that could send a call elsewhere than moto: a profile or a configured endpoint."""
    return name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL") or name.startswith("AWS_ENDPOINT_URL_")


def use_dummy_aws() -> None:
    """Point this process (and its children) at nothing real: dummy credentials, no profile, no endpoint."""
    for name in [name for name in os.environ if _would_redirect(name)]:
        del os.environ[name]
    os.environ.update(DUMMY_AWS_ENV)
    os.environ.update(APP_ENV)


@contextmanager
def settings_env(values: Mapping[str, str]) -> Iterator[None]:
    """Run with extra app settings (e.g. ``ACCESS_TOKEN_SIGNING_ALG``), as a fresh container would read them."""
    from chalicelib import services

    try:
        with mock.patch.dict(os.environ, values):
            services.reset()
            yield
    finally:
        services.reset()  # after the environment is back: the next request reads the old settings


@contextmanager
def in_process_aws() -> Iterator[None]:
    """moto in this process, shaped by ``infra/resources.yaml``, with a signing key set."""
    from moto import mock_aws

    from chalicelib import services
    from chalicelib.config import settings
    from chalicelib.keys.secrets_mode import ensure_keyset
    from infra.local import apply_template

    with mock_aws():
        services.reset()
        apply_template()
        ensure_keyset(settings().keys_secret_id)
        try:
            yield
        finally:
            services.reset()


# --------------------------------------------------------------------------- events


class LambdaContext:
    """The few attributes of the Lambda runtime's context object; Chalice's HTTP routes read none."""

    function_name = "tollgate-bench-api_handler"
    memory_limit_in_mb = 128
    aws_request_id = "bench"
    invoked_function_arn = ""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_event(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: str | None = None,
    query: Mapping[str, list[str]] | None = None,
) -> Event:
    """An API Gateway REST proxy event for a route without path parameters."""
    headers = dict(headers or {})
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} if query else None,
        "multiValueQueryStringParameters": dict(query) if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    @property
    def basic(self) -> str:
        """RFC 6749 §2.3.1 (ids and secrets here are URL-safe, so no form-encoding is needed)."""
        return "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()


def form_event(path: str, params: Mapping[str, str], client: Credentials) -> Event:
    """A form POST authenticated with ``client_secret_basic``, as machine clients send them.

    A public client (no secret) identifies itself with ``client_id`` in the body instead (RFC 6749 §2.1).
    """
    if not client.client_secret:
        body = urlencode({**params, "client_id": client.client_id})
        return http_event("POST", path, headers={"Content-Type": FORM}, body=body)
    headers = {"Content-Type": FORM, "Authorization": client.basic}
    return http_event("POST", path, headers=headers, body=urlencode(params))


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or the text when the body is not JSON


def answer(response: Mapping[str, Any]) -> Answer:
    text = response.get("body") or ""
    try:
        return Answer(int(response["statusCode"]), json.loads(text))
    except ValueError:
        return Answer(int(response["statusCode"]), text)


# --------------------------------------------------------------------------- the world


def register_machine_client(access_token_strategy: str = "jwt") -> Credentials:
    """A client_credentials client (``client_secret_basic``), registered through the admin function."""
    from chalicelib.admin import handle

    metadata = {
        "client_name": f"bench-{access_token_strategy}",
        "grant_types": ["client_credentials"],
        "scope": "invoices:read invoices:write",
        "audience": ["https://api.example.com"],
        "access_token_strategy": access_token_strategy,
    }
    result = handle({"operation": "clients.create", "params": metadata})["result"]
    return Credentials(result["client_id"], result["client_secret"])


class World:
    """The app as Lambda runs it, and the untimed helpers scenarios prepare requests with."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.context = LambdaContext()
        self._made: dict[str, Any] = {}
        self._addresses = itertools.cycle(ABUSERS.hosts())

    def handle(self, event: Event) -> dict[str, Any]:
        """One Lambda invocation of the API handler: what the bench times."""
        return self.app(event, self.context)

    def call(self, event: Event) -> Answer:
        return answer(self.handle(event))

    def once(self, name: str, make: Callable[[], T]) -> T:
        """What ``make`` returns, made on first use: clients and users are registered once per run."""
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]  # type: ignore[no-any-return]

    def client(self, access_token_strategy: str = "jwt") -> Credentials:
        """A machine client, registered once per strategy."""
        return self.once(f"{access_token_strategy} client", lambda: register_machine_client(access_token_strategy))

    def post(self, path: str, params: Mapping[str, str], client: Credentials) -> Event:
        return form_event(path, params, client)

    def get(self, path: str) -> Event:
        return http_event("GET", path)

    def from_new_address(self, event: Event) -> Event:
        """``event`` sent from an address no request of this run came from: under every per-address limit."""
        event["requestContext"]["identity"]["sourceIp"] = str(next(self._addresses))
        return event

    def bearer_get(self, path: str, access_token: str) -> Event:
        """RFC 6750 §2.1: the access token in the Authorization header."""
        return http_event("GET", path, headers={"Authorization": f"Bearer {access_token}"})

    def token(self, client: Credentials) -> str:
        """A fresh access token for ``client``, issued through the token endpoint (untimed)."""
        issued = self.call(self.post("/oauth2/token", {"grant_type": "client_credentials"}, client))
        if issued.status != 200:
            raise RuntimeError(f"the bench could not get a token: {issued}")
        return str(issued.body["access_token"])
