"""RFC 8414 / OIDC Discovery metadata and the RFC 7517 key set."""

from __future__ import annotations

import json

from tests.conftest import ISSUER

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_both_discovery_documents_describe_what_works(http):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = json.loads(http.get(path).body)
        assert meta["issuer"] == ISSUER
        assert meta["token_endpoint"] == f"{ISSUER}/oauth2/token"
        assert meta["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
        assert meta["introspection_endpoint"] == f"{ISSUER}/oauth2/introspect"
        assert meta["revocation_endpoint"] == f"{ISSUER}/oauth2/revoke"
        assert meta["grant_types_supported"] == ["client_credentials"]
        assert "password" not in json.dumps(meta) and "implicit" not in meta["grant_types_supported"]


def test_jwks_publishes_public_parts_only_with_kid_alg_use(http):
    keys = json.loads(http.get("/.well-known/jwks.json").body)["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not PRIVATE_MEMBERS & set(key), key
        assert "status" not in key and "key_ops" not in key


def test_security_headers_on_every_response(http):
    response = http.get("/.well-known/jwks.json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
