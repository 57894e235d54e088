"""Authorization code with PKCE, login and consent challenges, ID tokens (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1),
on the core alone (tests/unit/core.py)."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from tests.conftest import ISSUER
from tests.oauth_flow import (
    REDIRECT_URI,
    Browser,
    authorize_url,
    consent_challenge,
    exchange,
    introspect,
    login_challenge,
    pkce_pair,
    query_of,
    sign_in,
    token_call,
)

SCOPE = "openid offline_access profile email"


@pytest.fixture
def spa(register):
    return register(
        client_name="SPA",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope=SCOPE,
        token_endpoint_auth_method="none",
    )


@pytest.fixture
def browser(http):
    return Browser(http)


def verified_id_token(http, token, client_id):
    keys = json.loads(http.get("/.well-known/jwks.json").body)["keys"]
    jwk = next(k for k in keys if k["kid"] == jwt.get_unverified_header(token)["kid"])
    return jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[jwk["alg"]], audience=client_id, issuer=ISSUER)


def start(client, challenge, **params):
    return authorize_url(
        client["client_id"],
        scope=SCOPE,
        state="st-1",
        nonce="n-1",
        code_challenge=challenge,
        code_challenge_method="S256",
        **params,
    )


def test_confidential_client_gets_access_id_and_refresh_tokens(http, browser, web_app):
    verifier, challenge = pkce_pair()
    answer = sign_in(browser, start(web_app, challenge))
    assert answer["state"] == "st-1" and answer["iss"] == ISSUER and answer["code"].startswith("tg_ac_")
    response = exchange(http, web_app, answer["code"], verifier)
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["refresh_token"].startswith("tg_rt_") and body["token_type"] == "Bearer"
    claims = verified_id_token(http, body["id_token"], web_app["client_id"])
    assert claims["sub"] == "user-1" and claims["nonce"] == "n-1" and claims["amr"] == ["pwd"]
    assert claims["auth_time"] <= time.time() and claims["sid"]
    from chalicelib.oauth.oidc.id_token import at_hash

    assert claims["at_hash"] == at_hash(body["access_token"])
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["sub"] == "user-1" and access["client_id"] == web_app["client_id"]


def test_public_client_with_pkce_gets_tokens(http, browser, spa):
    verifier, challenge = pkce_pair()
    answer = sign_in(browser, start(spa, challenge))
    body = json.loads(exchange(http, spa, answer["code"], verifier).body)
    assert {"access_token", "id_token", "refresh_token"} <= set(body)


def test_no_refresh_token_without_offline_access(http, browser, web_app):
    verifier, challenge = pkce_pair()
    url = authorize_url(web_app["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    body = json.loads(exchange(http, web_app, sign_in(browser, url)["code"], verifier).body)
    assert "refresh_token" not in body and "id_token" in body


def test_redirect_uri_may_be_omitted_when_exactly_one_is_registered(browser, web_app):
    _, challenge = pkce_pair()
    url = authorize_url(web_app["client_id"], code_challenge=challenge, code_challenge_method="S256")
    url = url.replace("&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", "")
    assert "login_challenge=" in browser.get(url).headers["Location"]


def test_redirect_uri_may_not_be_omitted_when_several_are_registered(browser, register):
    client = register(
        grant_types=["authorization_code"],
        redirect_uris=[REDIRECT_URI, "https://app.example.com/other"],
        scope="openid",
    )
    _, challenge = pkce_pair()
    url = authorize_url(client["client_id"], code_challenge=challenge, code_challenge_method="S256")
    response = browser.get(url.replace("&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb", ""))
    assert response.status_code == 400 and "Location" not in response.headers


def test_interaction_required_from_the_login_app_reaches_the_client(browser, web_app):
    from chalicelib import services

    _, challenge = pkce_pair()
    login = login_challenge(browser.get(start(web_app, challenge)))
    redirect_to = services.flows().reject_login(login, error="interaction_required")
    answer = query_of(browser.get(redirect_to).headers["Location"])
    assert answer["error"] == "interaction_required" and answer["state"] == "st-1" and answer["iss"] == ISSUER


def test_loopback_redirect_uri_may_change_port(register, browser):
    native = register(
        grant_types=["authorization_code"],
        redirect_uris=["http://127.0.0.1/callback"],
        token_endpoint_auth_method="none",
        scope="openid",
    )
    _, challenge = pkce_pair()
    url = authorize_url(native["client_id"], code_challenge=challenge, code_challenge_method="S256")
    url = url.replace("https%3A%2F%2Fapp.example.com%2Fcb", "http%3A%2F%2F127.0.0.1%3A53121%2Fcallback")
    assert "login_challenge=" in browser.get(url).headers["Location"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "id_token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"audience": "https://evil.example.com"}, "invalid_target"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
        ({"request": "eyJ..."}, "request_not_supported"),
    ],
)
def test_bad_requests_redirect_with_error_state_and_iss(browser, web_app, params, error):
    _, challenge = pkce_pair()
    query = {"code_challenge": challenge, "code_challenge_method": "S256", "state": "xyz", **params}
    url = authorize_url(web_app["client_id"], **{k: v for k, v in query.items() if v is not None})
    response = browser.get(url)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    answer = query_of(location)
    assert answer["error"] == error and answer["state"] == "xyz" and answer["iss"] == ISSUER


def test_duplicate_parameters_are_invalid_request(browser, web_app):
    _, challenge = pkce_pair()
    url = start(web_app, challenge) + "&scope=openid"
    assert query_of(browser.get(url).headers["Location"])["error"] == "invalid_request"


def test_unknown_parameters_are_ignored(browser, web_app):
    _, challenge = pkce_pair()
    assert "login_challenge=" in browser.get(start(web_app, challenge, ui_locales="de")).headers["Location"]


def test_confidential_client_may_opt_out_of_pkce(http, browser, register):
    client = register(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope="openid", require_pkce=False
    )
    answer = sign_in(browser, authorize_url(client["client_id"], scope="openid"))
    assert exchange(http, client, answer["code"], None).status_code == 200


def test_code_verifier_without_challenge_is_rejected(http, browser, register):
    client = register(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope="openid", require_pkce=False
    )
    answer = sign_in(browser, authorize_url(client["client_id"], scope="openid"))
    response = exchange(http, client, answer["code"], "x" * 43)
    assert json.loads(response.body)["error"] == "invalid_grant"


@pytest.mark.parametrize("verifier", ["wrong-" + "v" * 43, None])
def test_wrong_or_missing_code_verifier_is_invalid_grant(http, browser, web_app, verifier):
    _, challenge = pkce_pair()
    answer = sign_in(browser, start(web_app, challenge))
    assert json.loads(exchange(http, web_app, answer["code"], verifier).body)["error"] == "invalid_grant"


def test_code_reuse_is_refused_and_revokes_tokens_from_first_redemption(http, browser, web_app):
    verifier, challenge = pkce_pair()
    code = sign_in(browser, start(web_app, challenge))["code"]
    first = json.loads(exchange(http, web_app, code, verifier).body)
    assert introspect(http, web_app, first["access_token"])["active"] is True
    second = exchange(http, web_app, code, verifier)
    assert second.status_code == 400 and json.loads(second.body)["error"] == "invalid_grant"
    assert introspect(http, web_app, first["access_token"]) == {"active": False}
    assert introspect(http, web_app, first["refresh_token"]) == {"active": False}


def test_code_from_another_client_is_invalid_grant(http, browser, web_app, register):
    other = register(grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope=SCOPE)
    verifier, challenge = pkce_pair()
    code = sign_in(browser, start(web_app, challenge))["code"]
    assert json.loads(exchange(http, other, code, verifier).body)["error"] == "invalid_grant"


def test_redirect_uri_must_match_at_the_token_endpoint(http, browser, web_app):
    verifier, challenge = pkce_pair()
    code = sign_in(browser, start(web_app, challenge))["code"]
    response = exchange(http, web_app, code, verifier, redirect_uri="https://app.example.com/other")
    assert json.loads(response.body)["error"] == "invalid_grant"


def test_second_authorization_skips_login_and_remembered_consent_skips_consent(http, browser, web_app):
    _, challenge = pkce_pair()
    sign_in(browser, start(web_app, challenge), remember=True)
    response = browser.get(start(web_app, challenge))
    answer = query_of(response.headers["Location"])
    assert "code" in answer and answer["state"] == "st-1"


def test_sso_without_remembered_consent_goes_straight_to_consent(browser, web_app):
    _, challenge = pkce_pair()
    sign_in(browser, start(web_app, challenge))
    assert "consent_challenge=" in browser.get(start(web_app, challenge)).headers["Location"]


def test_skip_consent_clients_never_see_the_consent_step(browser, register):
    first_party = register(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope="openid", skip_consent=True
    )
    _, challenge = pkce_pair()
    url = authorize_url(
        first_party["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256"
    )
    from chalicelib import services

    redirect_to = services.flows().accept_login(login_challenge(browser.get(url)), subject="u", remember=True)
    assert "code" in query_of(browser.get(redirect_to).headers["Location"])


def test_prompt_none_answers_login_required_then_consent_required(browser, web_app):
    _, challenge = pkce_pair()
    answer = query_of(browser.get(start(web_app, challenge, prompt="none")).headers["Location"])
    assert answer["error"] == "login_required" and answer["state"] == "st-1"
    from chalicelib import services

    redirect_to = services.flows().accept_login(
        login_challenge(browser.get(start(web_app, challenge))), subject="u", remember=True
    )
    browser.get(redirect_to)
    answer = query_of(browser.get(start(web_app, challenge, prompt="none")).headers["Location"])
    assert answer["error"] == "consent_required"


def test_prompt_login_and_exceeded_max_age_force_a_new_login(browser, web_app, frozen_clock):
    _, challenge = pkce_pair()
    sign_in(browser, start(web_app, challenge))
    assert "login_challenge=" in browser.get(start(web_app, challenge, prompt="login")).headers["Location"]
    frozen_clock[0] += 1
    assert "login_challenge=" in browser.get(start(web_app, challenge, max_age="0")).headers["Location"]


def test_deny_redirects_access_denied_with_state_and_iss(browser, web_app):
    from chalicelib import services

    _, challenge = pkce_pair()
    redirect_to = services.flows().accept_login(login_challenge(browser.get(start(web_app, challenge))), subject="u")
    consent = consent_challenge(browser.get(redirect_to))
    answer = query_of(browser.get(services.flows().reject_consent(consent)).headers["Location"])
    assert answer == {"error": "access_denied", "state": "st-1", "iss": ISSUER}


def test_login_rejection_redirects_access_denied(browser, web_app):
    from chalicelib import services

    _, challenge = pkce_pair()
    redirect_to = services.flows().reject_login(login_challenge(browser.get(start(web_app, challenge))))
    assert query_of(browser.get(redirect_to).headers["Location"])["error"] == "access_denied"


def test_a_verifier_from_another_browser_is_refused(http, web_app):
    from chalicelib import services

    _, challenge = pkce_pair()
    victim, attacker = Browser(http), Browser(http)
    redirect_to = services.flows().accept_login(
        login_challenge(attacker.get(start(web_app, challenge))), subject="attacker"
    )
    response = victim.get(redirect_to)
    assert response.status_code == 403 and "Location" not in response.headers


def test_challenges_and_verifiers_are_single_use(browser, web_app):
    from chalicelib import services
    from chalicelib.oauth.errors import NotFound

    flows = services.flows()
    _, challenge = pkce_pair()
    login = login_challenge(browser.get(start(web_app, challenge)))
    redirect_to = flows.accept_login(login, subject="u")
    with pytest.raises(NotFound):
        flows.accept_login(login, subject="someone-else")
    assert "consent_challenge=" in browser.get(redirect_to).headers["Location"]
    replay = browser.get(redirect_to)
    assert replay.status_code == 400 and "Location" not in replay.headers


def test_consent_cannot_grant_more_than_requested(browser, web_app):
    from chalicelib import services
    from chalicelib.oauth.errors import InvalidRequest

    _, challenge = pkce_pair()
    url = authorize_url(web_app["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256")
    redirect_to = services.flows().accept_login(login_challenge(browser.get(url)), subject="u")
    consent = consent_challenge(browser.get(redirect_to))
    with pytest.raises(InvalidRequest):
        services.flows().accept_consent(consent, grant_scope=["openid", "email"])


def access_claims(body: dict) -> dict:
    return jwt.decode(body["access_token"], options={"verify_signature": False})


def test_without_an_audience_parameter_the_token_is_for_the_registered_audience(http, browser, web_app):
    verifier, challenge = pkce_pair()
    code = sign_in(browser, start(web_app, challenge))["code"]
    aud = access_claims(json.loads(exchange(http, web_app, code, verifier).body))["aud"]
    assert aud == ["https://api.example.com", ISSUER]  # and the issuer: scope openid makes it a sign-in token


@pytest.mark.usefixtures("refresh_anytime")  # refreshes right after the exchange
def test_refresh_never_widens_a_grant_of_no_audience(http, browser, web_app):
    verifier, challenge = pkce_pair()
    code = sign_in(browser, start(web_app, challenge), grant_access_token_audience=[])["code"]
    first = json.loads(exchange(http, web_app, code, verifier).body)
    assert access_claims(first)["aud"] == [web_app["client_id"], ISSUER]
    body = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    refreshed = json.loads(token_call(http, web_app, body).body)
    assert access_claims(refreshed)["aud"] == [web_app["client_id"], ISSUER]
    assert introspect(http, web_app, refreshed["access_token"])["aud"] == [web_app["client_id"], ISSUER]


def test_remembered_consent_to_no_audience_does_not_cover_the_registered_audience(http, browser, web_app):
    _, challenge = pkce_pair()
    sign_in(browser, start(web_app, challenge), remember=True, grant_access_token_audience=[])
    assert "consent_challenge=" in browser.get(start(web_app, challenge)).headers["Location"]


@pytest.mark.parametrize(
    ("requested", "aud"),
    [
        ({}, ["https://a.example.com", "https://b.example.com", ISSUER]),
        ({"audience": "https://b.example.com"}, ["https://b.example.com", ISSUER]),
    ],
)
def test_skip_consent_grants_the_requested_audience_else_the_registered_one(http, browser, register, requested, aud):
    from chalicelib import services

    first_party = register(
        grant_types=["authorization_code"],
        redirect_uris=[REDIRECT_URI],
        scope="openid",
        audience=["https://a.example.com", "https://b.example.com"],
        skip_consent=True,
    )
    verifier, challenge = pkce_pair()
    url = authorize_url(
        first_party["client_id"], scope="openid", code_challenge=challenge, code_challenge_method="S256", **requested
    )
    redirect_to = services.flows().accept_login(login_challenge(browser.get(url)), subject="u")
    code = query_of(browser.get(redirect_to).headers["Location"])["code"]
    assert access_claims(json.loads(exchange(http, first_party, code, verifier).body))["aud"] == aud
