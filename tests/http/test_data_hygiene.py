"""Data hygiene: what a reader of the state table learns about people (issue 10, item 12).

Throttling counters are keyed by usernames and source addresses.  Keyed with a
plain SHA-256, a reader of the table reverses them by trying every IPv4
address (2^32) or a list of usernames; keyed with HMAC under the pepper (held
in Secrets Manager, never in a table) they tell nothing without it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest

from chalicelib.config import settings
from chalicelib.oauth import device
from chalicelib.oauth.password_login import LOGIN_ATTEMPTS, LOGIN_DELAY
from tests.http.test_device_flow import open_form, post_form
from tests.http.test_ui_pages import login_page, sign_in
from tests.oauth_flow import Browser

SOURCE = "203.0.113.77"
USERNAME = "Ca\u0301rol.Hygiene@example.com"  # an email as username, not NFC: "á" as a + combining accent
NFC_USERNAME = "C\u00e1rol.Hygiene@example.com"
COUNTER_KINDS = (LOGIN_ATTEMPTS, LOGIN_DELAY, device.ATTEMPTS_KIND)
# The sixth sign-in must land in the delay slot the fifth opened: on a busy machine real time could close it first.
# What is counted matters here, not how long a password check takes.
pytestmark = pytest.mark.usefixtures("frozen_clock", "cheap_passwords")


@pytest.fixture
def source(monkeypatch):
    from chalice.local import LambdaEventConverter

    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", SOURCE)


@pytest.fixture
def client(register):
    return register(
        redirect_uris=["https://app.example.com/cb"], scope="openid profile", grant_types=["authorization_code"]
    )


def attempts(http: Any, client: dict[str, Any]) -> None:
    """Six failed sign-ins (the sixth takes a delay slot) and two wrong device codes, all from ``SOURCE``."""
    page, challenge = login_page(http, client)
    statuses = [sign_in(page, challenge, USERNAME, "wrong password").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    fields, cookie = open_form(Browser(http))
    assert [post_form(http, fields, cookie, "ZZZZ-ZZZZ").status_code for _ in range(2)] == [400, 400]


def state_items() -> list[dict[str, Any]]:
    table = boto3.client("dynamodb").scan(TableName=settings().state_table)
    return table["Items"]


def counter_keys() -> set[str]:
    return {item["pk"]["S"] for item in state_items() if item["kind"]["S"] in COUNTER_KINDS}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def what_a_reader_could_recognise() -> list[str]:
    """The plain values, and SHA-256 of them in every input format used before (and bare)."""
    plain = [USERNAME, NFC_USERNAME, SOURCE, USERNAME.lower(), NFC_USERNAME.lower()]
    formats = ["{}", "username:{}", "source:{}", f"pair:{SOURCE}\n{{}}"]
    return plain + [sha256(form.format(value)) for form in formats for value in plain]


def test_counter_keys_reveal_neither_the_username_nor_the_address_nor_their_sha256(http, client, source):
    attempts(http, client)
    items = state_items()
    counters = [item for item in items if item["kind"]["S"] in COUNTER_KINDS]
    # Login: per address, pair, username, pair's delay slot; device: per address, per device challenge.
    assert len(counters) == 6, counters
    keys = [item["pk"]["S"] for item in items]
    for secret in what_a_reader_could_recognise():
        assert not [key for key in keys if secret.lower() in key.lower()], secret
        assert secret.lower() not in json.dumps(counters, ensure_ascii=False).lower(), secret


def test_counter_keys_change_with_the_pepper(http, client, source):
    from chalicelib import services

    attempts(http, client)
    before = counter_keys()
    boto3.client("secretsmanager").put_secret_value(
        SecretId=settings().pepper_secret_id, SecretString="another pepper, another deployment"
    )
    services.reset()  # a fresh container reads the new pepper
    attempts(http, client)  # counted afresh: none of the earlier counters is reused
    after = counter_keys() - before
    assert len(after) == len(before) == 6


def test_one_value_gives_unrelated_keys_per_purpose_and_values_cannot_be_shifted_between_parts():
    from chalicelib.oauth.person_keys import DEVICE_SOURCE, LOGIN_PAIR, LOGIN_SOURCE, LOGIN_USERNAME, person_key

    pepper = b"pepper"
    purposes = (LOGIN_PAIR, LOGIN_USERNAME, LOGIN_SOURCE, DEVICE_SOURCE)
    assert len({person_key(pepper, purpose, SOURCE) for purpose in purposes}) == 4
    assert person_key(pepper, LOGIN_PAIR, "a\n", "b") != person_key(pepper, LOGIN_PAIR, "a", "\nb")
    assert person_key(pepper, LOGIN_PAIR, "a", "b") == person_key(pepper, LOGIN_PAIR, "a", "b")
    assert person_key(b"other pepper", LOGIN_PAIR, "a", "b") != person_key(pepper, LOGIN_PAIR, "a", "b")
    assert len(person_key(pepper, LOGIN_USERNAME, "\ud800 lone surrogate")) == 64  # any str, never a 500
