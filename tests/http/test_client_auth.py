"""Client secrets and the DynamoDB client cache of a warm container (RFC 6749 §2.3).

The authentication rules themselves: tests/unit/test_client_auth.py."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import FORM
from tests.unit.test_client_auth import rotate, status_with

GRANT = {"grant_type": "client_credentials"}


def token(http, body, headers=None):
    return http.post("/oauth2/token", headers={**FORM, **(headers or {})}, body=urlencode(body))


@pytest.fixture
def basic_client(register):
    return register(grant_types=["client_credentials"], scope="a")


def test_old_secret_stops_when_the_grace_period_ends_even_on_a_warm_container(http, basic_client, frozen_clock):
    client_id, old = basic_client["client_id"], basic_client["client_secret"]
    new = rotate(client_id, keep_old_for=60)
    assert status_with(http, client_id, old) == 200  # the rotated record is now cached
    frozen_clock[0] += 61
    assert status_with(http, client_id, old) == 401
    assert status_with(http, client_id, new) == 200


def test_secret_rotated_in_another_container_is_accepted_on_first_use(http, basic_client):
    from dataclasses import replace

    from chalicelib import services
    from chalicelib.config import settings
    from chalicelib.oauth.credentials import hash_client_secret
    from chalicelib.storage.clients import DynamoClientRepository

    client_id = basic_client["client_id"]
    assert status_with(http, client_id, basic_client["client_secret"]) == 200  # this container caches the client
    other_container = DynamoClientRepository(settings().clients_table, cache_seconds=60)
    client = other_container.find(client_id, fresh=True)
    other_container.replace(replace(client, client_secret_hash=hash_client_secret(services.pepper().pepper(), "new")))
    assert status_with(http, client_id, "new") == 200
