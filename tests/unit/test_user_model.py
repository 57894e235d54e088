"""Users without storage (chalicelib.oauth.users): scrypt hashes, OIDC claims by scope, what a new user may be."""

from __future__ import annotations

import pytest

from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.users import ScryptCost, User, hash_password, new_user, verify_password

CHEAP = ScryptCost(log2_n=10, r=8, p=1)


# --- hashes ---------------------------------------------------------------------------------


def test_a_hash_is_scrypt_with_its_cost_and_a_fresh_salt_in_the_string():
    first, second = hash_password("password one"), hash_password("password one")
    assert first.startswith("$scrypt$ln=15,r=8,p=3$") and first != second
    assert verify_password("password one", first) and verify_password("password one", second)
    assert not verify_password("password two", first)


def test_hashes_made_at_another_cost_still_verify():
    stored = hash_password("old password", CHEAP)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$")
    assert verify_password("old password", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "$scrypt$ln=15,r=8,p=3$$",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "$scrypt$ln=30,r=8,p=1$c2FsdA$aGFzaA",
    ],
)
def test_a_malformed_or_oversized_hash_never_verifies(stored):
    assert verify_password("anything", stored) is False


# --- the user and its claims ----------------------------------------------------------------


def alice(**fields) -> User:
    values = {"user_id": "8c1f", "username": "alice", "email": "alice@example.com", "email_verified": True}
    return User(**{**values, "name": "Alice Liddell", "password_hash": "$scrypt$...", **fields})


def test_claims_follow_the_granted_scopes_and_sub_is_the_opaque_id():
    user = alice()
    assert user.claims(["openid"]) == {"sub": "8c1f"}
    assert user.claims(["openid", "profile"]) == {"sub": "8c1f", "preferred_username": "alice", "name": "Alice Liddell"}
    assert user.claims(["email"]) == {"sub": "8c1f", "email": "alice@example.com", "email_verified": True}


def test_claims_leave_out_what_the_user_does_not_have():
    assert alice(email="", email_verified=False, name="").claims(["profile", "email"]) == {
        "sub": "8c1f",
        "preferred_username": "alice",
    }


def test_the_hash_is_neither_shown_nor_printed():
    user = alice()
    assert "password_hash" not in user.public() and "$scrypt$" not in repr(user)


def test_new_user_gets_a_random_sub_and_a_hash(cheap_passwords):
    user = new_user("alice", "long enough", email="a@example.com", name=" Alice ")
    assert user.user_id != "alice" and len(user.user_id) == 36 and user.name == "Alice"
    assert verify_password("long enough", user.password_hash)


@pytest.mark.parametrize(
    ("username", "password", "extra"),
    [
        ("", "long enough", {}),
        (" alice", "long enough", {}),
        ("al\x00ice", "long enough", {}),
        ("a" * 129, "long enough", {}),
        ("alice", "short", {}),
        ("alice", "long enough", {"email": "not-an-email"}),
        ("alice", "long enough", {"email_verified": True}),
    ],
)
def test_new_user_refuses_bad_input(cheap_passwords, username, password, extra):
    with pytest.raises(InvalidRequest):
        new_user(username, password, **extra)
