"""JWS verification picks the key from a cheaply read header, and still refuses whatever is malformed."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from chalicelib.keys import jwkset
from chalicelib.tokens import jws, pyjwt_decoder

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


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def any_key(request) -> jwkset.LoadedKey:
    return jwkset.load(jwkset.new_private_jwk(request.param, "current"))


@pytest.mark.parametrize("typ", ["at+jwt", "JWT"])
def test_a_signed_token_is_compact_json_any_jwt_library_verifies(any_key, typ):
    """The header and claims segments are exactly what PyJWT's own compact JSON would be; PyJWT verifies the token."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "s", "aud": ["a", "b"], "exp": now + 60, "iat": now, "jti": "j", "name": "Zoë ✓"}
    token = jws.sign(any_key, claims, typ=typ)
    header_segment, claims_segment, _ = token.split(".")
    header = {"alg": any_key.alg, "kid": any_key.kid, "typ": typ}
    assert header_segment == _segment(json.dumps(header, separators=(",", ":")).encode())
    assert claims_segment == _segment(json.dumps(claims, separators=(",", ":")).encode())
    assert jwt.get_unverified_header(token) == header
    verified = jwt.decode(token, any_key.public_key, algorithms=[any_key.alg], audience="a", issuer=ISSUER)
    assert verified == claims


def test_tokens_of_two_keys_and_two_types_each_name_their_own(any_key):
    """The header of one key or ``typ`` never shows up in another's token."""
    other = jwkset.load(jwkset.new_private_jwk(any_key.alg, "current"))
    for key in (any_key, other, any_key):
        for typ in ("at+jwt", "JWT"):
            token = jws.sign(key, {"iss": ISSUER}, typ=typ)
            assert jwt.get_unverified_header(token) == {"alg": key.alg, "kid": key.kid, "typ": typ}
            jwt.decode(token, key.public_key, algorithms=[key.alg], options={"verify_iss": False})


def test_a_loaded_key_verifies_with_one_public_key_object(any_key):
    """OpenSSL prepares a public key's arithmetic (RSA's Montgomery form) once per object: one object per key."""
    assert any_key.public_key is any_key.public_key
    token = jws.sign(any_key, {"iss": ISSUER, "exp": int(time.time()) + 60, "iat": 0, "jti": "j"}, typ="at+jwt")
    assert jws.verify(_Keys(any_key), token, typ="at+jwt", issuer=ISSUER)["jti"] == "j"


def _python_calls(action) -> int:
    """How many Python-level calls (generator steps included) ``action`` makes: a cost that load cannot blur."""
    import sys

    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls


def test_verifying_a_token_costs_no_python_step_per_character(any_key):
    """PyJWT 2.15 checks each base64url character in a Python generator: ~150 µs a token, most of a JWT's check."""
    now = int(time.time())
    short = jws.sign(any_key, {"iss": ISSUER, "exp": now + 60, "iat": now, "jti": "j"}, typ="at+jwt")
    long = jws.sign(any_key, {"iss": ISSUER, "exp": now + 60, "iat": now, "jti": "j", "pad": "x" * 3000}, typ="at+jwt")
    keys = _Keys(any_key)
    costs = [_python_calls(lambda t=t: jws.verify(keys, t, typ="at+jwt", issuer=ISSUER)) for t in (short, long)]
    assert costs[1] - costs[0] < 50, costs


SEGMENTS = [
    b"",
    b"QQ",
    b"QR",
    b"QQ==",
    b"QQ=",
    b"QUI=",
    b"QUJD",
    b"QUJD===",
    b"Q",
    b"QQ!!",
    b"Q+/A",
    b"Q-_A",
    b"====",
    b"\xff\xfe",
]


@pytest.mark.parametrize("segment", SEGMENTS)
def test_a_segment_decodes_or_fails_as_pyjwt_decodes_it(segment):
    """Tollgate's C-speed segment check keeps PyJWT's rules (padding, alphabet, canonical encoding)."""
    from jwt.api_jws import PyJWS
    from jwt.exceptions import DecodeError

    def outcome(decode):
        try:
            return decode(segment, "payload")
        except DecodeError as error:
            return str(error)

    assert outcome(pyjwt_decoder.decode_segment) == outcome(PyJWS._decode_base64url_segment)
