"""The JWK set without storage (chalicelib.keys.jwkset): layout, rotation order, revocation, key loading."""

from __future__ import annotations

import json

import jwt
import pytest

from chalicelib.keys import jwkset
from chalicelib.tokens import jws

PACE, RETENTION = 600, 3900
LATER = {"now": PACE, "pace": PACE, "retention": RETENTION}  # the first next key is just old enough


def test_initial_set_has_current_and_next_for_each_algorithm():
    keys = jwkset.initial_keyset()["keys"]
    assert sorted((k["alg"], k["status"]) for k in keys) == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]


def test_rotation_promotes_next_to_current_and_current_to_previous():
    first = jwkset.initial_keyset(now=0)
    second = jwkset.rotate(first, **LATER)
    by_status = {(k["alg"], k["status"]): k["kid"] for k in second["keys"]}
    old = {(k["alg"], k["status"]): k["kid"] for k in first["keys"]}
    assert by_status["RS256", "current"] == old["RS256", "next"]
    assert by_status["RS256", "previous"] == old["RS256", "current"]
    assert by_status["RS256", "next"] not in old.values()
    assert len(jwkset.rotate(second, now=LATER["now"] + RETENTION, pace=PACE, retention=RETENTION)["keys"]) == 6


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


def test_an_ec_key_loads_as_the_same_key_pyjwt_would_load_and_a_wrong_curve_is_refused():
    from jwt.algorithms import ECAlgorithm

    private_jwk = jwkset.new_private_jwk("ES256", "current")
    loaded = jwkset.load(private_jwk)
    assert loaded.private_key.private_numbers() == ECAlgorithm.from_jwk(json.dumps(private_jwk)).private_numbers()
    token = jws.sign(loaded, {"sub": "s"})
    assert jwt.decode(token, loaded.public_key, algorithms=["ES256"]) == {"sub": "s"}
    with pytest.raises(ValueError):
        jwkset.load({**private_jwk, "crv": "P-384"})
    with pytest.raises(ValueError):
        jwkset.load({**private_jwk, "x": private_jwk["y"]})  # not the public point of d


def test_a_next_key_younger_than_the_pace_is_not_promoted():
    keyset = jwkset.initial_keyset(now=1000)
    with pytest.raises(jwkset.NotYet) as refused:
        jwkset.rotate(keyset, now=1000 + PACE - 1, pace=PACE, retention=RETENTION)
    assert refused.value.ready_at == 1000 + PACE


def test_previous_keys_stay_while_they_may_have_signed_live_tokens_then_go():
    first = jwkset.initial_keyset(now=0)
    signer = {k["alg"]: k["kid"] for k in first["keys"] if k["status"] == "current"}
    twice = jwkset.rotate(jwkset.rotate(first, **LATER), now=2 * PACE, pace=PACE, retention=RETENTION)
    previous = {k["kid"] for k in twice["keys"] if k["status"] == "previous"}
    assert set(signer.values()) <= previous and len(previous) == 4  # two generations of two algorithms
    thrice = jwkset.rotate(twice, now=PACE + RETENTION, pace=PACE, retention=RETENTION)
    assert not set(signer.values()) & {k["kid"] for k in thrice["keys"]}


def test_revoking_current_promotes_next_and_publishes_a_fresh_next():
    keyset = jwkset.initial_keyset(now=0)
    by_status = {(k["alg"], k["status"]): k["kid"] for k in keyset["keys"]}
    after = jwkset.revoke(keyset, by_status["RS256", "current"], now=5)
    now_by_status = {(k["alg"], k["status"]): k for k in after["keys"]}
    assert now_by_status["RS256", "current"]["kid"] == by_status["RS256", "next"]
    assert now_by_status["RS256", "next"]["created_at"] == 5
    assert by_status["RS256", "current"] not in {k["kid"] for k in after["keys"]}
    assert len(after["keys"]) == 4
    with pytest.raises(KeyError):
        jwkset.revoke(after, by_status["RS256", "current"], now=5)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_public_key_is_published_with_pyjwts_members_and_use_but_no_key_ops(alg):
    """KMS mode publishes the public keys KMS answers; PyJWT (the verifiers' view) reads back the same key."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    for _ in range(20):  # EC coordinates with leading zero bytes keep their 32 bytes
        private = rsa.generate_private_key(65537, 2048) if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
        published = jwkset.public_jwk_of(private.public_key(), kid="k1", alg=alg)
        reference = {k: v for k, v in algorithm.to_jwk(private.public_key(), as_dict=True).items() if k != "key_ops"}
        assert published == {**reference, "kid": "k1", "alg": alg, "use": "sig"}  # RFC 7517 §4.3: use, not both
        assert algorithm.from_jwk(published).public_numbers() == private.public_key().public_numbers()
        if alg == "RS256":
            assert published["e"] == "AQAB"
            break
