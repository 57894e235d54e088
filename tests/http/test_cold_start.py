"""A fresh Lambda container's first token (issue 13 item 3): one SDK session, its three reads at once.

A new container holds nothing: its first client_credentials token needs the
client (DynamoDB), the pepper and the key set (Secrets Manager).  Read one
after the other they add three round trips to the first answer; creating
each AWS client from its own SDK session loads the SDK's endpoint data and
service models once per session.  ``services.reset()`` stands for the new
container; calls and sessions are counted through botocore, as
tests/test_call_counts.py counts them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from chalicelib import aws as aws_clients
from chalicelib import services
from tests.oauth_flow import token_call

COLD_READS = {"secretsmanager.GetSecretValue": 2, "dynamodb.GetItem": 1}  # pepper and key set; the client


@pytest.fixture
def machine(register):
    return register(grant_types=["client_credentials"])


def token(http, client: dict[str, Any]):
    return token_call(http, client, {"grant_type": "client_credentials"})


class InFlight:
    """Holds each AWS call until ``expected`` calls are in flight together (or ``patience`` runs out).

    Reads made one after the other never overlap: each waits out the whole
    patience alone, and ``most`` stays 1.
    """

    def __init__(self, expected: int, patience: float = 1.0) -> None:
        self.expected, self.patience = expected, patience
        self.now = self.most = 0
        self.calls: list[str] = []
        self._changed = threading.Condition()

    def before(self, model: Any, **_: Any) -> None:
        with self._changed:
            self.calls.append(f"{model.service_model.service_name}.{model.name}")
            self.now += 1
            self.most = max(self.most, self.now)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.most >= self.expected, timeout=self.patience)

    def after(self, **_: Any) -> None:
        with self._changed:
            self.now -= 1


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, str]]]:
    """(id of the botocore session, service) for every client created from now on."""
    created: list[tuple[int, str]] = []
    create_client = botocore.session.Session.create_client

    def recording(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        created.append((id(self), service_name))
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", recording)
    yield created


def test_a_fresh_container_builds_its_aws_clients_from_one_sdk_session(http, machine, sessions):
    services.reset()  # a new container
    sessions.clear()
    assert token(http, machine).status_code == 200
    assert {service for _, service in sessions} == {"secretsmanager", "dynamodb"}
    assert len({session for session, _ in sessions}) == 1, sessions


def test_a_fresh_container_reads_the_client_the_pepper_and_the_key_set_at_once(http, machine, monkeypatch):
    services.reset()
    in_flight = InFlight(expected=3)
    create_client = botocore.session.Session.create_client

    def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-call.*.*", in_flight.before)
        client.meta.events.register("after-call.*.*", in_flight.after)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", watched)
    assert token(http, machine).status_code == 200
    assert sorted(in_flight.calls) == sorted(name for name, n in COLD_READS.items() for _ in range(n))
    assert in_flight.most == 3  # one round trip, not three


def test_the_first_token_makes_each_read_once_and_the_second_none(http, machine, aws):
    services.reset()
    aws.reset()
    assert token(http, machine).status_code == 200
    assert aws.by_operation() == COLD_READS
    aws.reset()
    assert token(http, machine).status_code == 200
    assert aws.count == 0, aws.calls


def test_creating_the_first_clients_lists_only_their_own_services_and_still_refuses_unknown_ones(monkeypatch):
    import os

    from botocore.exceptions import UnknownServiceError

    from chalicelib import aws

    aws.reset()
    listed: list[str] = []
    listdir = os.listdir

    def counting(path: Any = ".") -> list[str]:
        listed.append(str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", counting)
    aws.client("secretsmanager")
    aws.client("dynamodb")
    assert len(listed) < 20, f"{len(listed)} directories listed"  # not every service the SDK knows (~900)
    with pytest.raises(UnknownServiceError):
        aws.client("no-such-service")
    assert {"dynamodb", "secretsmanager", "kms"} <= set(aws.session().get_available_services())
    aws.reset()


def test_racing_first_requests_read_each_secret_once(aws):
    services.reset()
    aws.reset()
    start = threading.Barrier(8)

    def first_request() -> None:
        start.wait()
        with services.secrets_read_ahead():
            services.secrets_read_ahead().start()  # what each first client lookup does
            services.pepper().pepper()
            services.key_provider().signing_key("ES256")

    racers = [threading.Thread(target=first_request) for _ in range(8)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert aws.by_operation() == {"secretsmanager.GetSecretValue": 2}


def test_a_cold_container_that_cannot_read_its_pepper_answers_503_not_500(http, machine):
    """As a cold container that cannot read its keys does (tests/test_key_refresh.py): Secrets Manager throttled."""
    services.reset()

    def throttled(params: dict[str, Any], **_: Any) -> None:
        if "pepper" in params["SecretId"]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "GetSecretValue")

    aws_clients.client("secretsmanager").meta.events.register("before-parameter-build.secretsmanager.*", throttled)
    answer = token(http, machine)
    assert (answer.status_code, json.loads(answer.body)["error"]) == (503, "temporarily_unavailable")


def test_the_sdk_data_files_are_read_into_plain_dicts_gzipped_or_not():
    """``OrderedDict`` for every object of the SDK's 1.2 MB endpoint file and the models cost ~15 ms of a cold start."""
    aws_clients.reset()
    loader = aws_clients.session().get_component("data_loader")
    endpoints = loader.load_data("endpoints")  # endpoints.json
    model = loader.load_service_model("dynamodb", "service-2")  # service-2.json.gz
    assert type(endpoints) is dict and type(endpoints["partitions"][0]) is dict
    assert type(model) is dict and "GetItem" in model["operations"]
    assert loader.file_loader.load_file("/no/such/file") is None
    aws_clients.reset()


FRESH_CONTAINER = """
import json, sys
from bench.world import LambdaContext, form_event, in_process_aws, register_machine_client, use_dummy_aws
use_dummy_aws()
with in_process_aws():
    client = register_machine_client("jwt")
    from chalicelib import services
    services.reset()
    for name in [name for name in sys.modules if name.split(".")[0] in ("app", "chalicelib", "jwt")]:
        del sys.modules[name]  # a new container: none of our code (or PyJWT, which made the key set) loaded
    before = set(sys.modules)
    import app
    token = app.app(form_event("/oauth2/token", {"grant_type": "client_credentials"}, client), LambdaContext())
    first_token = sorted(set(sys.modules) - before)
    admin = app.admin({"operation": "clients.get", "params": {"client_id": "nobody"}}, LambdaContext())
print(json.dumps([token["statusCode"], admin.get("error"), first_token, sorted(sys.modules)]))
"""


def fresh_container() -> tuple[int, str | None, list[str], list[str]]:
    """A fresh interpreter's first token and admin operation on moto: their answers, the modules loaded.

    The modules the first token loaded, from ``import app`` to its answer (the embedded AWS and what made the
    client and the key set were loaded before; our code and PyJWT are then unloaded), and every module by the end.
    """
    done = subprocess.run(
        [sys.executable, "-c", FRESH_CONTAINER], capture_output=True, text=True, check=True, timeout=120
    )
    status, admin_error, first_token, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return status, admin_error, first_token, loaded


def test_a_first_token_imports_no_pyjwt():
    """PyJWT's import (25-75 ms; it loads cryptography.x509 and a JWKS client) is for verifying, not for signing."""
    status, _, first_token, _ = fresh_container()
    assert status == 200
    assert [name for name in first_token if name.split(".")[0] == "jwt"] == []
