"""The two access token formats write and read values with no storage and no AWS (tokens/ is a leaf)."""

from __future__ import annotations

import time

import pytest

from chalicelib.keys import jwkset
from chalicelib.tokens import jws
from chalicelib.tokens.formats import JWT_TYP, JwtAccessTokens, OpaqueAccessTokens, format_of
from chalicelib.tokens.hashing import digest

ISSUER = "https://issuer.example"


class _Keys:
    def __init__(self, key: jwkset.LoadedKey) -> None:
        self.key = key

    def signing_key(self, alg: str) -> jwkset.LoadedKey:
        return self.key

    def verification_key(self, kid: str):
        return (self.key.alg, self.key.public_key) if kid == self.key.kid else None


@pytest.fixture(scope="module")
def formats() -> tuple[OpaqueAccessTokens, JwtAccessTokens]:
    key = jwkset.load(jwkset.new_private_jwk("ES256", "current"))
    return OpaqueAccessTokens(), JwtAccessTokens(_Keys(key), issuer=ISSUER, alg="ES256")


def _claims() -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "s", "aud": "api", "exp": now + 60, "iat": now, "jti": "j", "client_id": "c"}


def test_a_jwt_access_token_carries_its_verified_claims_and_is_stored_nowhere(formats):
    _, jwt = formats
    claims = _claims()
    minted = jwt.mint(claims, "grant")
    assert minted.record_id is None and jwt.record_id(minted.value) is None
    assert format_of(formats, minted.value) is jwt
    assert jwt.verified_claims(minted.value) == claims
    assert jws._unverified_header(minted.value)["typ"] == JWT_TYP  # RFC 9068 §2.1


def test_an_opaque_access_token_names_its_grant_and_is_found_only_through_its_hash(formats):
    opaque, _ = formats
    minted = opaque.mint(_claims(), "grant")
    assert minted.value.startswith("tg_at_grant.")
    assert minted.record_id == digest(minted.value) == opaque.record_id(minted.value)
    assert format_of(formats, minted.value) is opaque
    assert opaque.verified_claims(minted.value) is None  # only its record knows the claims


def test_a_tampered_or_foreign_value_is_no_access_token(formats):
    _, jwt = formats
    value = jwt.mint(_claims(), None).value
    header, payload, signature = value.split(".")
    assert jwt.verified_claims(f"{header}.{payload}.{signature[::-1]}") is None
    assert format_of(formats, "tg_rt_grant.random") is None  # a refresh token is not an access token
    assert format_of(formats, "not-a-token") is None
