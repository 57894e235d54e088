"""The interaction's transitions, pure: no store, no moto, no Chalice (Hydra's flow state machine)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.interaction_requests import AppView, ConsentRequest, LoginRequest
from chalicelib.oauth.models.interaction import (
    MAX_REMEMBER_FOR,
    Authentication,
    AuthorizationRequest,
    Consent,
    DeviceChallenge,
    Interaction,
    Rejection,
    check_consent,
    check_subject,
)
from chalicelib.oauth.models.serial import from_plain, to_plain

NOW = 1_800_000_000
ISSUER = "https://auth.example.com"


def request(**changes: object) -> AuthorizationRequest:
    base = AuthorizationRequest(
        client_id="web",
        redirect_uri="https://app.example.com/cb",
        redirect_uri_given=True,
        scope=("openid", "profile"),
        audience=("https://api.example.com",),
        state="s",
        nonce="n",
        code_challenge="c" * 43,
        code_challenge_method="S256",
        prompt=(),
        max_age=None,
    )
    return replace(base, **changes)


def interaction(**changes: object) -> Interaction:
    return Interaction(request=request(**changes), csrf_hash="h", requested_at=NOW - 60)


SESSION = Authentication("ada", auth_time=NOW - 3600, acr="1", amr=("pwd",), sid="sid-1")


# -- accept_login -----------------------------------------------------------------------


def test_accept_login_records_who_signed_in_and_when() -> None:
    accepted = interaction().accept_login(subject="ada", now=NOW, remember=True, remember_for=600, amr=["pwd"])
    assert accepted.authentication == Authentication(
        "ada", auth_time=NOW, amr=("pwd",), remember=True, remember_for=600
    )
    assert accepted.request == interaction().request  # the rest carries on unchanged


def test_a_skipped_login_keeps_the_session_and_its_subject() -> None:
    skipping = replace(interaction(), session=SESSION)
    accepted = skipping.accept_login(subject="ada", now=NOW, remember=True)
    assert accepted.authentication == Authentication(
        "ada", auth_time=SESSION.auth_time, acr="1", amr=("pwd",), remember=False, sid="sid-1"
    )
    with pytest.raises(InvalidRequest, match="skip is true"):
        skipping.accept_login(subject="eve", now=NOW)


@pytest.mark.parametrize(
    ("auth_time", "prompt", "max_age", "message"),
    [
        (0, (), None, "positive"),
        (NOW + 1, (), None, "future"),
        (NOW - 61, ("login",), None, "older than the client allows"),
        (NOW - 400, (), 300, "older than the client allows"),
    ],
)
def test_auth_time_is_checked_against_what_the_client_asked(auth_time, prompt, max_age, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        interaction(prompt=prompt, max_age=max_age).accept_login(subject="ada", now=NOW, auth_time=auth_time)


def test_a_fresh_enough_auth_time_is_kept() -> None:
    accepted = interaction(max_age=300).accept_login(subject="ada", now=NOW, auth_time=NOW - 300)
    assert accepted.authentication is not None and accepted.authentication.auth_time == NOW - 300
    assert interaction(prompt=("login",)).fresh_since() == NOW - 60
    assert interaction().fresh_since() is None


@pytest.mark.parametrize("subject", ["", "a" * 256, "has space", "tab\there", "é", "\x00"])
def test_a_subject_that_could_not_be_a_sub_is_refused(subject: str) -> None:
    with pytest.raises(InvalidRequest, match="subject"):
        interaction().accept_login(subject=subject, now=NOW)
    with pytest.raises(InvalidRequest):
        check_subject(subject)


@pytest.mark.parametrize("remember_for", [-1, MAX_REMEMBER_FOR + 1])
def test_remember_for_is_bounded(remember_for: int) -> None:
    with pytest.raises(InvalidRequest, match="remember_for"):
        interaction().accept_login(subject="ada", now=NOW, remember_for=remember_for)
    with pytest.raises(InvalidRequest, match="remember_for"):
        interaction().accept_consent(Consent(("openid",), (), remember_for=remember_for))


# -- accept_consent and reject ----------------------------------------------------------


def test_consent_may_narrow_but_never_widen_the_request() -> None:
    narrowed = Consent(grant_scope=("openid",), grant_access_token_audience=())
    assert interaction().accept_consent(narrowed).consent == narrowed
    for widened in (Consent(("openid", "email"), ()), Consent(("openid",), ("https://other.example.com",))):
        with pytest.raises(InvalidRequest, match="cannot grant what was not requested"):
            interaction().accept_consent(widened)


@pytest.mark.parametrize("token", ["access_token_claims", "id_token_claims"])
def test_a_consent_app_may_not_set_a_claim_only_tollgate_sets(token: str) -> None:
    consent = Consent(("openid",), (), **{token: {"sub": "admin", "tier": "gold"}})
    with pytest.raises(InvalidRequest, match="sub"):
        check_consent(consent)
    with pytest.raises(InvalidRequest, match="sub"):
        interaction().accept_consent(consent)
    check_consent(Consent(("openid",), (), **{token: {"tier": "gold"}}))


def test_reject_carries_the_apps_error_and_only_an_rfc_one() -> None:
    rejected = interaction().reject(Rejection("login_required", "no session"))
    assert rejected.rejection == Rejection("login_required", "no session")
    assert Rejection().error == "access_denied"
    with pytest.raises(InvalidRequest, match="error must be one of"):
        Rejection("server_error")


# -- the device challenge ----------------------------------------------------------------


def test_a_device_challenge_accepted_becomes_an_interaction_approving_that_device() -> None:
    started = DeviceChallenge(csrf_hash="h", user_code="BCDFGHJK")
    approving = started.accept(
        device_code_id="dc-1",
        client_id="tv",
        scope=("openid",),
        audience=(),
        redirect_uri=f"{ISSUER}/oauth2/device/verify",
        now=NOW,
    )
    assert approving.csrf_hash == "h" and approving.requested_at == NOW
    assert approving.request.device_code_id == "dc-1" and approving.request.client_id == "tv"
    assert approving.request.prompt == () and not approving.request.redirect_uri_given
    assert DeviceChallenge.KIND == "device_challenge"


# -- stored shape: the payloads DESIGN.md's state table holds today ----------------------------


def test_the_stored_payloads_keep_their_shape() -> None:
    accepted = replace(interaction(), session=SESSION).accept_login(subject="ada", now=NOW)
    plain = to_plain(accepted)
    assert set(plain) == {"request", "csrf_hash", "requested_at", "authentication", "consent", "rejection", "session"}
    assert plain["request"]["scope"] == ["openid", "profile"] and plain["authentication"]["amr"] == ["pwd"]
    assert from_plain(Interaction, plain) == accepted
    assert to_plain(DeviceChallenge("h", "BCDFGHJK")) == {"csrf_hash": "h", "user_code": "BCDFGHJK"}
    assert from_plain(DeviceChallenge, {"csrf_hash": "h"}) == DeviceChallenge("h")  # stored before user_code


# -- what the login and consent apps see ----------------------------------------------------


def test_the_apps_see_the_request_rebuilt_from_what_was_validated() -> None:
    app = AppView(ISSUER, login_hint="ada@example.com")
    skipping = replace(interaction(acr_values=("2",), ui_locales=("de",)), session=SESSION)
    login = LoginRequest.of("ch", skipping, {"client_id": "web"}, app)
    assert (login.skip, login.subject, login.requested_scope) == (True, "ada", ["openid", "profile"])
    assert login.oidc_context == {"acr_values": ["2"], "login_hint": "ada@example.com", "ui_locales": ["de"]}
    assert login.request_url.startswith(f"{ISSUER}/oauth2/auth?client_id=web&response_type=code&redirect_uri=")
    assert "login_hint=ada%40example.com" in login.request_url and "max_age" not in login.request_url
    assert login.to_dict()["requested_access_token_audience"] == ["https://api.example.com"]
    consent = ConsentRequest.of("ch", interaction().accept_login(subject="ada", now=NOW, acr="1"), {}, app)
    assert (consent.skip, consent.subject, consent.acr, consent.amr) == (False, "ada", "1", [])
