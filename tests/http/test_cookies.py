"""Cookies a sibling subdomain cannot plant (RFC 6265bis §4.1.3.2), and no first-wins on a repeated cookie.

A page on ``evil.example.com`` can set ``tollgate_session`` with
``Domain=example.com``; the browser then sends it to ``auth.example.com``
beside the real one.  A ``__Host-`` cookie must be Secure, on ``Path=/`` and
without Domain, so nobody but the issuer's own host can set it; and a request
carrying one of our cookies twice is refused rather than guessed at.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import FORM
from tests.oauth_flow import REDIRECT_URI, Browser, authorize_url, login_challenge, pkce_pair, sign_in


@pytest.fixture
def client(register):
    return register(
        client_name="Web app", grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI], scope="openid"
    )


@pytest.fixture
def deployed(http, monkeypatch):
    """The HTTP client with a deployed stage's settings (Secure cookies), the issuer at the root of its host."""
    from chalicelib import services
    from chalicelib.config import settings

    monkeypatch.setenv("STAGE", "dev")
    settings.cache_clear()
    services.reset()
    yield http
    settings.cache_clear()
    services.reset()


def start(client) -> str:
    _, challenge = pkce_pair()
    return authorize_url(client["client_id"], code_challenge=challenge, code_challenge_method="S256", state="s")


def set_cookies(response) -> list[str]:
    value = response.headers.get("Set-Cookie") or []
    return [value] if isinstance(value, str) else list(value)


def attributes(cookie: str) -> set[str]:
    return {part.strip() for part in cookie.split(";")[1:]}


def test_session_and_flow_cookies_are_host_prefixed_on_a_secure_stage(deployed, client):
    browser = Browser(deployed)
    response = browser.get(start(client))
    (flow,) = set_cookies(response)
    assert flow.startswith("__Host-tollgate_flow_")
    assert {"Path=/", "Secure", "HttpOnly"} <= attributes(flow) and "Domain" not in flow

    from chalicelib import services

    after_login = services.flows().accept_login(login_challenge(response), subject="user-1", remember=True)
    (session,) = set_cookies(browser.get(after_login))
    assert session.startswith("__Host-tollgate_session=")
    assert {"Path=/", "Secure", "HttpOnly"} <= attributes(session) and "Domain" not in session

    # The renamed session still does its job: the next authorization skips the login app.
    assert "login_challenge=" not in browser.get(start(client)).headers["Location"]


def test_the_local_stage_over_http_keeps_plain_cookie_names_on_the_issuer_paths(http, client):
    (flow,) = set_cookies(Browser(http).get(start(client)))
    assert flow.startswith("tollgate_flow_") and "Path=/oauth2/" in attributes(flow) and "Secure" not in flow


def test_an_issuer_under_a_path_keeps_plain_names_scoped_to_that_path():
    from chalicelib.oauth.http import CookiePolicy

    # Path=/ would send the cookie to every other app on the host: there __Host- cannot be used.
    policy = CookiePolicy.for_issuer("https://api.example.com/prod", secure=True)
    assert policy.name("tollgate_session") == "tollgate_session"
    assert "Path=/prod/oauth2/" in policy.set("tollgate_flow_x", "v", max_age=60, under="oauth2/")
    root = CookiePolicy.for_issuer("https://auth.example.com/", secure=True)
    assert root.set("tollgate_session", "v", max_age=60).startswith("__Host-tollgate_session=v; Max-Age=60; Path=/;")


def refused_as_page(response, status: int = 400) -> str:
    assert response.status_code == status, response.body
    assert "Location" not in response.headers
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    return response.body.decode()


def test_a_second_session_cookie_is_refused_with_a_page_not_first_wins(deployed, client):
    planted = "__Host-tollgate_session=planted; __Host-tollgate_session=real"
    path = start(client).split("8000", 1)[1]
    body = refused_as_page(deployed.get(path, headers={"Cookie": planted}))
    assert "tollgate_session" in body and "twice" in body


def test_a_second_flow_cookie_is_refused_when_the_login_app_sends_the_person_back(http, client):
    from chalicelib import services

    browser = Browser(http)
    response = browser.get(start(client))
    after_login = services.flows().accept_login(login_challenge(response), subject="user-1")
    (name, value), *_ = browser.cookies.items()
    cookie = f"{name}=planted; {name}={value}"
    refused_as_page(http.get(after_login.split("8000", 1)[1], headers={"Cookie": cookie}))


def test_a_second_csrf_cookie_is_refused_on_the_pages(http, client):
    from chalicelib import services

    login = login_challenge(Browser(http).get(start(client)))
    cookie = "tollgate_csrf=" + "A" * 43 + "; tollgate_csrf=" + "B" * 43
    refused_as_page(http.get(f"/ui/login?{urlencode({'login_challenge': login})}", headers={"Cookie": cookie}))
    form = urlencode({"login_challenge": login, "username": "u", "password": "p", "csrf_token": "x"})
    refused_as_page(http.post("/ui/login", headers={**FORM, "Cookie": cookie}, body=form))
    refused_as_page(http.get("/oauth2/sessions/logout", headers={"Cookie": cookie}))
    challenge = services.flows().request_device("c" * 32, "")
    form = urlencode({"device_challenge": challenge, "user_code": "BCDF-GHJK", "csrf_token": "x"})
    refused_as_page(http.post("/oauth2/device/verify", headers={**FORM, "Cookie": cookie}, body=form))


def test_other_sites_cookies_repeated_do_not_matter(http, client):
    response = http.get(start(client).split("8000", 1)[1], headers={"Cookie": "_ga=1; _ga=2"})
    assert "login_challenge=" in response.headers["Location"]


def test_signing_in_still_works_with_the_new_cookie_names(deployed, client):
    answer = sign_in(Browser(deployed), start(client))
    assert answer["state"] == "s" and "code" in answer
