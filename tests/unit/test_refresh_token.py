"""A refresh token's rotation (RFC 6749 §6, RFC 9700 §4.14.2), without storage."""

from __future__ import annotations

import pytest

from chalicelib.oauth.errors import InvalidGrant
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.models.refresh_token import RefreshToken
from chalicelib.oauth.models.serial import from_plain, to_plain

GRANT = UserGrant("app", "g1", "ada", ("openid", "offline_access", "api"), ("rs",), 1, "sid", 99, amr=("pwd",))


def test_rotation_keeps_the_grant_for_its_client():
    token = RefreshToken.of(GRANT)
    assert token.rotate("app", frozenset(GRANT.scope)) == token


def test_rotation_narrows_to_what_the_client_is_still_registered_for():
    assert RefreshToken.of(GRANT).rotate("app", frozenset({"openid", "offline_access"})).scope == (
        "openid",
        "offline_access",
    )


def test_another_client_cannot_rotate_it():
    with pytest.raises(InvalidGrant, match="another client"):
        RefreshToken.of(GRANT).rotate("thief", frozenset(GRANT.scope))


def test_its_payload_is_the_grant_as_it_always_was():
    plain = to_plain(RefreshToken.of(GRANT))
    assert plain == to_plain(GRANT) and plain["scope"] == ["openid", "offline_access", "api"]
    assert from_plain(RefreshToken, plain) == RefreshToken.of(GRANT)


def test_it_is_stored_under_its_kind_and_read_back_only_as_that_kind():
    from chalicelib.oauth.models.device_code import DeviceCode
    from chalicelib.oauth.models.stored import read, stored

    item = stored(RefreshToken.of(GRANT), "hash", 99, grant_id="g1", subject="ada")
    assert (item.kind, item.id, item.expires_at, item.grant_id, item.subject) == (
        "refresh_token",
        "hash",
        99,
        "g1",
        "ada",
    )
    assert read(RefreshToken, item) == RefreshToken.of(GRANT)
    with pytest.raises(ValueError):
        read(DeviceCode, item)
