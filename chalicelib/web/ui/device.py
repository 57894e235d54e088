"""The device verification page, ``GET/POST /oauth2/device/verify`` (RFC 8628 §3.3, DESIGN §4).

GET starts a device flow in this browser (a ``device_challenge`` plus the
flow cookie) and shows the form — field ``Code``, button ``Continue`` —
pre-filled from ``verification_uri_complete`` but never submitted by itself
(§5.4: the person must confirm the code they see on their device).  With
``DEVICE_URL`` pointing at a team's own app, GET redirects there instead and
the app answers through the admin function (``device.accept``).

POST checks the CSRF token, then the code.  Wrong codes are counted per
browser and per source address in the state table (§5.1): 5 per browser and
20 per address in any 15 minutes, then the page refuses to check codes until
the window ends.  The entropy behind those numbers is in
:mod:`chalicelib.oauth.device`.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from chalicelib import services
from chalicelib.config import settings
from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.http import Page, Response, redirect
from chalicelib.oauth.request import Request
from chalicelib.tokens.opaque import digest
from chalicelib.web.ui.pages import shows_errors

WINDOW = 15 * 60
BROWSER_LIMIT = 5
SOURCE_LIMIT = 20
ATTEMPTS_KIND = "device_attempts"
WRONG_CODE = "That code is not valid or has expired. Check the code on your device and try again."
TOO_MANY = "Too many wrong codes. Wait 15 minutes, then try again."


def _binding(challenge: str) -> str:
    return f"device:{challenge}"


def _form(request: Request, challenge: str, *, user_code: str = "", message: str = "", status: int = 200) -> Page:
    token = services.csrf_guard().issue(request, binding=_binding(challenge))
    context = {"device_challenge": challenge, "csrf_token": token.value, "user_code": user_code, "message": message}
    return Page("device", context, status=status, cookies=token.cookies)


@shows_errors
def show(request: Request) -> Response | Page:
    query = request.query
    if "device_verifier" in query:
        return services.authorization_endpoint().resume_device(request, query.require("device_verifier"))
    if "device" in query or "error" in query:
        return _done(query.get("device") == "connected", query.get("error"))
    csrf = secrets.token_urlsafe(24)
    prefill = query.get("user_code") or ""
    challenge = services.flows().request_device(csrf, prefill)
    cookie = services.authorization_endpoint().flow_cookie(digest(csrf), csrf)
    device_url = settings().device_url
    if device_url != f"{settings().issuer_url}/oauth2/device/verify":
        return redirect(f"{device_url}?{urlencode({'device_challenge': challenge})}", cookies=(cookie,))
    page = _form(request, challenge, user_code=prefill)
    return Page(page.template, page.context, page.status, page.headers, (*page.cookies, cookie))


@shows_errors
def submit(request: Request) -> Response | Page:
    form = request.form()
    challenge = form.get("device_challenge") or ""
    services.csrf_guard().verify(request, form, binding=_binding(challenge))
    user_code = form.get("user_code") or ""
    counters = _counters(request)
    if _locked(counters):
        return _form(request, challenge, user_code=user_code, message=TOO_MANY, status=429)
    try:
        redirect_to = services.flows().accept_device(challenge, user_code=user_code)
    except InvalidRequest:
        expires_at = int(time.time()) + WINDOW
        for key, _ in counters:
            services.state_store().increment(ATTEMPTS_KIND, key, expires_at)
        return _form(request, challenge, user_code=user_code, message=WRONG_CODE, status=400)
    return redirect(redirect_to, status=303)


def _counters(request: Request) -> list[tuple[str, int]]:
    """(counter id, limit): one for this browser (its CSRF cookie), one for its source address."""
    browser = request.cookie(services.csrf_guard().cookie) or ""
    return [(digest(f"browser:{browser}"), BROWSER_LIMIT), (digest(f"source:{request.source_ip}"), SOURCE_LIMIT)]


def _locked(counters: list[tuple[str, int]]) -> bool:
    limits = dict(counters)
    found = services.state_store().find_many([(ATTEMPTS_KIND, key) for key in limits])
    return any(item.counter >= limits[item.id] for item in found)


def _done(connected: bool, error: str | None) -> Page:
    message = "The code expired before you finished." if error == "expired_token" else ""
    return Page("device_done", {"connected": connected, "message": message})
