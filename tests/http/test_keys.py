"""Secrets-mode key provider: signing, publishing, caching with expiry (the JWK set itself: tests/unit/)."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from chalicelib.keys import jwkset
from chalicelib.keys.secrets_mode import SecretsManagerKeyProvider, read_keyset, write_keyset
from chalicelib.tokens import jws

SECRET = "tollgate/signing-keys"
RETENTION = 3900


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_signed_token_verifies_with_the_published_jwk_and_carries_kid(aws, alg):
    provider = SecretsManagerKeyProvider(SECRET, cache_seconds=300)
    token = jws.sign(provider.signing_key(alg), {"sub": "x"}, typ="at+jwt")
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in provider.jwks()["keys"] if k["kid"] == kid)
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg])["sub"] == "x"


def test_key_set_is_read_once_and_again_after_the_interval(aws, monkeypatch):
    import chalicelib.keys.cached as mode

    clock = [1000.0]
    monkeypatch.setattr(mode.time, "monotonic", lambda: clock[0])
    provider = SecretsManagerKeyProvider(SECRET, cache_seconds=300)
    provider.jwks()
    aws.reset()
    provider.signing_key("RS256")
    provider.jwks()
    assert aws.count == 0
    write_keyset(SECRET, jwkset.rotate(read_keyset(SECRET), now=int(time.time()), pace=0, retention=RETENTION))
    aws.reset()
    clock[0] += 301
    published = {k["kid"] for k in provider.jwks()["keys"]}
    assert aws.by_operation() == {"secretsmanager.GetSecretValue": 1}
    assert len(published) == 6


def test_jwks_never_contains_private_material(aws):
    provider = SecretsManagerKeyProvider(SECRET, cache_seconds=300)
    text = json.dumps(provider.jwks())
    for member in ('"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"'):
        assert member not in text
