"""Redeeming an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6), without storage or HTTP."""

from __future__ import annotations

import pytest

from chalicelib.oauth import pkce
from chalicelib.oauth.errors import InvalidGrant, InvalidRequest, OAuthError
from chalicelib.oauth.models.authorization_code import AuthorizationCode
from chalicelib.oauth.models.interaction import Authentication, Consent, Interaction
from chalicelib.oauth.models.serial import from_plain, to_plain
from tests.unit.test_interaction_model import request

VERIFIER = "v" * 43
REQUEST = request(code_challenge=pkce.s256(VERIFIER))
FLOW = Interaction(
    REQUEST,
    csrf_hash="h",
    requested_at=10,
    authentication=Authentication("ada", 5, amr=("pwd",), sid="sid"),
    consent=Consent(("openid",), ("rs",), access_token_claims={"team": "x"}),
)
CODE = AuthorizationCode.of(FLOW)


def test_the_client_it_was_issued_to_redeems_it_with_its_redirect_uri_and_verifier():
    CODE.redeem("web", "https://app.example.com/cb", VERIFIER)


@pytest.mark.parametrize(
    ("client_id", "redirect_uri", "verifier", "error"),
    [
        ("other", "https://app.example.com/cb", VERIFIER, InvalidGrant),
        ("web", None, VERIFIER, InvalidRequest),  # it was in the authorization request: §4.1.3 requires it
        ("web", "https://app.example.com/other", VERIFIER, InvalidGrant),
        ("web", "https://app.example.com/cb", None, OAuthError),
        ("web", "https://app.example.com/cb", "w" * 43, OAuthError),
    ],
)
def test_anything_else_is_refused(client_id, redirect_uri, verifier, error):
    with pytest.raises(error):
        CODE.redeem(client_id, redirect_uri, verifier)


def test_the_grant_is_what_was_consented_to_and_how_the_person_signed_in():
    grant = CODE.grant("g1", 99)
    assert (grant.client_id, grant.subject, grant.scope, grant.audience) == ("web", "ada", ("openid",), ("rs",))
    assert (grant.auth_time, grant.amr, grant.sid, grant.grant_expires_at) == (5, ("pwd",), "sid", 99)
    assert grant.access_token_claims == {"team": "x"}


def test_its_payload_reads_back_as_the_flow_it_was_and_the_other_way_round():
    plain = to_plain(CODE)
    assert from_plain(Interaction, plain) == FLOW
    assert from_plain(AuthorizationCode, to_plain(FLOW)) == CODE
