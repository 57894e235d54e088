"""JWS verification picks the key from a cheaply read header, and still refuses whatever is malformed."""

from __future__ import annotations

import base64
import json
import time

import pytest

from chalicelib.keys import jwkset
from chalicelib.tokens import jws

ISSUER = "https://issuer.example"


class _Keys:
    def __init__(self, key: jwkset.LoadedKey) -> None:
        self.key = key

    def verification_key(self, kid: str):
        return (self.key.alg, self.key.public_key) if kid == self.key.kid else None


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def key() -> jwkset.LoadedKey:
    return jwkset.load(jwkset.new_private_jwk("ES256", "current"))


def test_a_token_we_signed_verifies(key):
    now = int(time.time())
    claims = {"iss": ISSUER, "exp": now + 60, "iat": now, "jti": "j", "sub": "s"}
    token = jws.sign(key, claims, typ="at+jwt")
    assert jws.verify(_Keys(key), token, typ="at+jwt", issuer=ISSUER) == claims


KID = "{kid}"  # replaced by the key's own kid


@pytest.mark.parametrize(
    "header",
    [
        "[]",
        "1",
        "not json",
        '{"kid": "{kid}", "typ": 1}',
        '{"kid": "{kid}", "typ": null}',
        '{"kid": "{kid}", "typ": "JWT"}',
        '{"kid": "{kid}"}',
        '{"kid": 7, "typ": "at+jwt"}',
    ],
)
def test_a_header_that_is_no_object_or_has_an_odd_kid_or_typ_is_invalid_never_an_error(key, header):
    now = int(time.time())
    good = jws.sign(key, {"iss": ISSUER, "exp": now + 60, "iat": now, "jti": "j"}, typ="at+jwt")
    _, payload, signature = good.split(".")
    forged = _segment(header.replace(KID, key.kid).encode())
    with pytest.raises(jws.InvalidJws):
        jws.verify(_Keys(key), f"{forged}.{payload}.{signature}", typ="at+jwt", issuer=ISSUER)


@pytest.mark.parametrize("token", ["", "%%%.a.b", "a", json.dumps({"typ": "at+jwt"})])
def test_something_that_is_not_a_jws_at_all_is_invalid(key, token):
    with pytest.raises(jws.InvalidJws):
        jws.verify(_Keys(key), token, typ="at+jwt", issuer=ISSUER)
