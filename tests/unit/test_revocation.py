"""Revocation markers (RFC 7009 §2, RFC 9700 §4.5/§4.14.2): what each voids, and how each is stored."""

from __future__ import annotations

from chalicelib.oauth.models.revocation import RevokedGrant, RevokedToken, SignedOut, revocation_of


def test_a_revoked_token_or_grant_voids_whatever_it_names():
    for marker in (RevokedToken("jti", 99), RevokedGrant("g1", 99)):
        assert marker.voids(0) and marker.voids(10**10)
        assert revocation_of(marker.stored()) == marker


def test_a_sign_out_voids_what_came_up_to_its_second_and_nothing_after():
    marker = SignedOut("ada", 99, since=50)
    assert marker.voids(49) and marker.voids(50)  # a sign-in in that very second counts as before it
    assert not marker.voids(51)
    assert not SignedOut("ada", 99).voids(0)


def test_markers_are_stored_as_they_always_were():
    assert [
        (i.kind, i.id, i.payload, i.not_before) for i in (RevokedToken("j", 9).stored(), RevokedGrant("g", 9).stored())
    ] == [
        ("revoked_jti", "j", {}, None),
        ("revoked_grant", "g", {}, None),
    ]
    item = SignedOut("ada", 99, since=50).stored()
    assert (item.kind, item.id, item.payload, item.expires_at, item.not_before) == ("signed_out", "ada", {}, 99, 50)
    assert revocation_of(item) == SignedOut("ada", 99, since=50)
