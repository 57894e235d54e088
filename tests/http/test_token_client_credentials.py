"""The token endpoint over Chalice's test client: what the web edge and DynamoDB add.

The grant's rules (scopes, audiences, error codes): tests/unit/test_token_client_credentials.py."""

from __future__ import annotations

import json

import pytest

from tests.conftest import basic
from tests.oauth_flow import error_of, post_token


def test_opaque_strategy_issues_a_prefixed_token_stored_only_as_a_hash(http, register, aws):
    client = register(grant_types=["client_credentials"], scope="a", access_token_strategy="opaque")
    body = json.loads(post_token(http, {"grant_type": "client_credentials"}, client=client).body)
    token = body["access_token"]
    assert token.startswith("tg_at_") and len(token) >= 6 + 43
    import boto3

    items = boto3.client("dynamodb").scan(TableName="tollgate-state")["Items"]
    assert items and token not in json.dumps(items)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", None])
def test_a_body_that_is_not_a_form_is_invalid_request_never_415(http, machine, content_type):
    headers = {"Authorization": basic(machine["client_id"], machine["client_secret"])}
    if content_type:
        headers["Content-Type"] = content_type
    response = http.post("/oauth2/token", headers=headers, body=json.dumps({"grant_type": "client_credentials"}))
    assert response.status_code == 400 and error_of(response) == "invalid_request"
