"""End to end: the real local stack (moto server + chalice local) driven over HTTP by Authlib.

Authlib (and its JOSE library joserfc) is an independent OAuth client: it shares no code with Tollgate, so
what passes here is what a team's own client would see.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from infra.local import free_port, local_stack
from tests import e2e_http

pytestmark = pytest.mark.e2e
API = "https://api.example.com"
METADATA = {
    "client_name": "billing",
    "grant_types": ["client_credentials"],
    "scope": "invoices:read invoices:write",
    "audience": [API],
}


def cli(stack, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", *args], env=stack.env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def verify_with_jwks(stack, token: str) -> dict:
    meta = e2e_http.get(f"{stack.issuer}/.well-known/openid-configuration").json()
    keys = KeySet.import_key_set(e2e_http.get(meta["jwks_uri"]).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "at+jwt"
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": stack.issuer}, exp={"essential": True}).validate(
        decoded.claims
    )
    return decoded.claims


def session(stack, client: dict) -> OAuth2Session:
    oauth = OAuth2Session(client["client_id"], client["client_secret"], scope="invoices:read")
    e2e_http.without_keep_alive(oauth)
    return oauth


def test_machine_client_token_lifecycle_and_keys_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()
    with local_stack(port, 0, tmp_path, output=subprocess.DEVNULL) as stack:
        client = cli(stack, "clients", "create", "--json", json.dumps(METADATA))
        oauth = session(stack, client)
        token = oauth.fetch_token(
            f"{stack.issuer}/oauth2/token", grant_type="client_credentials", audience=API, timeout=10
        )
        assert token["token_type"] == "Bearer" and token["scope"] == "invoices:read"
        claims = verify_with_jwks(stack, token["access_token"])
        assert claims["client_id"] == client["client_id"] and claims["aud"] == API

        introspected = oauth.introspect_token(f"{stack.issuer}/oauth2/introspect", token["access_token"], timeout=10)
        assert introspected.json()["active"] is True

        revocable = oauth.fetch_token(f"{stack.issuer}/oauth2/token", grant_type="client_credentials", timeout=10)
        oauth.revoke_token(f"{stack.issuer}/oauth2/revoke", revocable["access_token"], timeout=10)
        answer = oauth.introspect_token(f"{stack.issuer}/oauth2/introspect", revocable["access_token"], timeout=10)
        assert answer.json() == {"active": False}

    with local_stack(port, 0, tmp_path, output=subprocess.DEVNULL) as stack:
        # Same keys, same client, same revocations after a restart of `make run`.
        assert verify_with_jwks(stack, token["access_token"])["jti"] == claims["jti"]
        oauth = session(stack, client)
        introspect = f"{stack.issuer}/oauth2/introspect"
        assert oauth.introspect_token(introspect, token["access_token"], timeout=10).json()["active"] is True
        assert oauth.introspect_token(introspect, revocable["access_token"], timeout=10).json() == {"active": False}
