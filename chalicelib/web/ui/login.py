"""Tollgate's own login app, ``GET/POST /ui/login`` (DESIGN §4), on the built-in user store.

It is the default ``LOGIN_URL`` and deliberately uses nothing a team's own
login app could not: it reads the login request for ``?login_challenge=``
and accepts it through :class:`~chalicelib.oauth.flows.Flows`, the same
operations the admin function offers (Hydra's get / accept login request).

GET shows the form (fields ``Username`` and ``Password``, button
``Sign in``).  POST does the cheap checks first and scrypt last, so a check
that fails costs no hash: the CSRF token (bound to the challenge, no AWS
call), then the challenge, read by the one write that counts the attempt
on it (10 per challenge, then it is void), then the counters of
:mod:`chalicelib.oauth.password_login` (per source address; per username
and address, which after 5 in a row must wait 2, 4, 8... seconds apart,
whether the username exists or not; per username), then the password.
It accepts the challenge with ``amr=["pwd"]`` and a remembered login
session of the default lifetime, and answers 303 to where the flow goes
next.  A failed attempt shows the form again with one generic message.

The session always lets single sign-on work; the ``Keep me signed in``
checkbox only decides whether its cookie outlives the browser (persistent)
or not (a browser-session cookie, the default: safer on a shared computer).
"""

from __future__ import annotations

from typing import Any

from chalicelib import services
from chalicelib.oauth.errors import TooManyAttempts
from chalicelib.oauth.events import LOGIN_FAILURE, LOGIN_LOCKED, LOGIN_SUCCESS
from chalicelib.oauth.http import Page, Response, redirect
from chalicelib.oauth.interaction_requests import LoginRequest
from chalicelib.oauth.password_login import LockedOut, WrongCredentials
from chalicelib.oauth.request import Params, Request
from chalicelib.oauth.users import possible_username
from chalicelib.web.ui.pages import client_context, shows_errors

WRONG_CREDENTIALS = "Wrong username or password."
MISSING_CREDENTIALS = "Enter your username and password."


def _binding(challenge: str) -> str:
    return f"login:{challenge}"


def _locked(retry_after: int) -> str:
    """Says when to come back, never whether the username exists (every username is counted alike)."""
    if retry_after < 60:
        wait = f"{retry_after} second{'s' if retry_after != 1 else ''}"
    else:
        minutes = -(-retry_after // 60)
        wait = f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"Too many failed sign-ins. Try again in {wait}."


def _form(request: Request, login: LoginRequest, *, username: str = "", message: str = "", **page: Any) -> Page:
    token = services.csrf_guard().issue(request, binding=_binding(login.challenge))
    username = username or login.oidc_context.get("login_hint", "")
    context = {
        **client_context(login.client),
        "login_challenge": login.challenge,
        "csrf_token": token.value,
        # Filled in again only if it could be a username: no other text (5 KB, control characters) comes back.
        "username": username if possible_username(username) else "",
        "message": message,
    }
    return Page("login", context, cookies=token.cookies, **page)


@shows_errors
def show(request: Request) -> Response | Page:
    challenge = request.query.get("login_challenge") or ""
    login = services.flows().login_request(challenge)
    if login.skip:  # the authorization server already knows who this is (Hydra's contract)
        return redirect(services.flows().accept_login(challenge, subject=login.subject), status=303)
    return _form(request, login)


@shows_errors
def submit(request: Request) -> Response | Page:
    request.events.login = LOGIN_FAILURE  # every sign-in POST counts: failed, unless it ends signed in or locked out
    form = request.form()
    challenge = form.get("login_challenge") or ""
    services.csrf_guard().verify(request, form, binding=_binding(challenge))
    username, password = _field(form, "username"), _field(form, "password")
    if not username or not password:  # nothing to hash: not an attempt
        return _form(request, services.flows().login_request(challenge), username=username, message=MISSING_CREDENTIALS)
    login = services.flows().attempt_login(challenge)
    try:
        user = services.password_login().authenticate(username, password, request.source_ip)
    except WrongCredentials:
        return _form(request, login, username=username, message=WRONG_CREDENTIALS)
    except LockedOut as locked:
        request.events.login = LOGIN_LOCKED
        message, headers = _locked(locked.retry_after), {"Retry-After": str(locked.retry_after)}
        return _form(
            request, login, username=username, message=message, status=429, headers=headers, error=TooManyAttempts.error
        )
    # remember=True with remember_for=0: a login session of the default lifetime (SESSION_TTL),
    # its cookie persistent only if the person ticked Keep me signed in.
    redirect_to = services.flows().accept_login(
        challenge, subject=user.user_id, remember=True, amr=["pwd"], persistent=form.get("remember") == "yes"
    )
    request.events.login = LOGIN_SUCCESS
    return redirect(redirect_to, status=303)


def _field(form: Params, name: str) -> str:
    return form.get(name) or ""
