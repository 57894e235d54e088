"""Secrets-mode key provider: JWK set layout, rotation order, caching with expiry."""

from __future__ import annotations

import json

import jwt
import pytest

from chalicelib.keys import jwkset
from chalicelib.keys.secrets_mode import SecretsManagerKeyProvider, read_keyset, write_keyset
from chalicelib.tokens import jws

SECRET = "tollgate/signing-keys"


def test_initial_set_has_current_and_next_for_each_algorithm():
    keys = jwkset.initial_keyset()["keys"]
    assert sorted((k["alg"], k["status"]) for k in keys) == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]


def test_rotation_promotes_next_to_current_and_current_to_previous():
    first = jwkset.initial_keyset()
    second = jwkset.rotate(first)
    by_status = {(k["alg"], k["status"]): k["kid"] for k in second["keys"]}
    old = {(k["alg"], k["status"]): k["kid"] for k in first["keys"]}
    assert by_status["RS256", "current"] == old["RS256", "next"]
    assert by_status["RS256", "previous"] == old["RS256", "current"]
    assert by_status["RS256", "next"] not in old.values()
    assert len(jwkset.rotate(second)["keys"]) == 6


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
    write_keyset(SECRET, jwkset.rotate(read_keyset(SECRET)))
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


def test_an_rsa_key_loads_as_the_same_key_pyjwt_would_load_with_or_without_its_crt_members():
    from jwt.algorithms import RSAAlgorithm

    private_jwk = jwkset.new_private_jwk("RS256", "current")
    expected = RSAAlgorithm.from_jwk(json.dumps(private_jwk)).private_numbers()
    without_crt = {k: v for k, v in private_jwk.items() if k not in ("p", "q", "dp", "dq", "qi")}
    for variant in (private_jwk, without_crt):
        loaded = jwkset.load(variant)
        assert loaded.private_key.private_numbers() == expected
        token = jws.sign(loaded, {"sub": "s"})
        assert jwt.decode(token, loaded.public_key, algorithms=["RS256"]) == {"sub": "s"}
