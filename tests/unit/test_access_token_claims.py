"""An access token's claims as a model: what a JWT carries or an opaque token's record holds (no moto)."""

from __future__ import annotations

from chalicelib.oauth.models.access_token import AccessTokenClaims
from chalicelib.oauth.models.serial import from_plain, to_plain
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.ports import StateItem

ISSUED = {
    "iss": "https://id.example",
    "sub": "ada",
    "aud": ["api", "https://id.example"],
    "exp": 200,
    "iat": 100,
    "jti": "j1",
    "client_id": "app",
    "scope": "openid profile",
    "grant_id": "g1",
    "tenant": "blue",  # a claim a consent added: the token's reader sees it, the server reads none of it
}


def test_an_opaque_tokens_record_reads_as_the_claims_it_was_issued_with():
    claims = read(AccessTokenClaims, StateItem("access_token", "h", ISSUED, 200))
    assert (claims.sub, claims.client_id, claims.scopes, claims.grant_id) == ("ada", "app", ("openid", "profile"), "g1")
    assert claims.audiences == ("api", "https://id.example")
    assert to_plain(claims) == {**{k: v for k, v in ISSUED.items() if k != "tenant"}, "nbf": None}


def test_a_single_audience_and_a_client_token_without_grant():
    claims = from_plain(AccessTokenClaims, {**ISSUED, "aud": "api", "grant_id": None, "sub": "app"})
    assert (claims.audiences, claims.grant_id) == (("api",), None)
