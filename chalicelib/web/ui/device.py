"""The device verification page, ``GET/POST /oauth2/device/verify`` (RFC 8628 §3.3, DESIGN §4).

GET starts a device flow in this browser (a ``device_challenge``, sealed so
that a visit stores nothing, plus the flow cookie) and shows the form —
field ``Code``, button ``Continue`` — pre-filled from
``verification_uri_complete`` but never submitted by itself
(§5.4: the person must confirm the code they see on their device).  With
``DEVICE_URL`` pointing at a team's own app, GET redirects there instead and
the app answers through the admin function (``device.accept``).

POST checks the CSRF token, then counts the attempt per source address and
per device challenge *before* looking the code up (§5.1): past 20 per address
in any 15 minutes, or 5 for one challenge, the page answers 429 without
checking.  Every other failure (wrong code, unknown or used challenge) gets
the same 400 page.  The limits and the entropy behind them are in
:mod:`chalicelib.oauth.device`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from chalicelib import clock, services
from chalicelib.config import settings
from chalicelib.oauth import device, paths
from chalicelib.oauth.errors import InvalidRequest, TooManyAttempts
from chalicelib.oauth.http import Page, Response, redirect
from chalicelib.oauth.person_keys import DEVICE_SOURCE, person_key
from chalicelib.oauth.request import Request
from chalicelib.web.ui.pages import shows_errors

WRONG_CODE = "That code is not valid or has expired. Check the code on your device and try again."
TOO_MANY = "Too many wrong codes. Wait 15 minutes, then try again."


def _binding(challenge: str) -> str:
    return f"device:{challenge}"


def _form(
    request: Request,
    challenge: str,
    *,
    user_code: str = "",
    message: str = "",
    status: int = 200,
    error: str | None = None,
) -> Page:
    token = services.csrf_guard().issue(request, binding=_binding(challenge))
    shown = device.shown(user_code)  # a typed text that cannot be a code is not shown back
    context = {"device_challenge": challenge, "csrf_token": token.value, "user_code": shown, "message": message}
    return Page("device", context, status=status, cookies=token.cookies, error=error)


@shows_errors
def show(request: Request) -> Response | Page:
    query = request.query
    if "device_verifier" in query:
        return services.authorization_endpoint().resume_device(request, query.require("device_verifier"))
    if "device" in query or "error" in query:
        return _done(query.get("device") == "connected", query.get("error"))
    query.check_all()  # an overlong or control-character prefill is refused before anything is kept
    prefill = device.shown(query.get("user_code") or "")
    binding = services.authorization_endpoint().bind_flow(request)
    device_url = settings().device_url
    own_page = device_url == f"{settings().issuer_url}{paths.DEVICE_VERIFICATION}"
    # Tollgate's own page gets a sealed challenge (nothing stored for a visit); a team's app a stored one.
    challenge = services.flows().request_device(binding.secret, prefill, sealed=own_page)
    if not own_page:
        return redirect(f"{device_url}?{urlencode({'device_challenge': challenge})}", cookies=binding.cookies)
    page = _form(request, challenge, user_code=prefill)
    return Page(page.template, page.context, page.status, page.headers, (*page.cookies, *binding.cookies))


@shows_errors
def submit(request: Request) -> Response | Page:
    form = request.form()
    challenge = form.get("device_challenge") or ""
    services.csrf_guard().verify(request, form, binding=_binding(challenge))
    user_code = form.get("user_code") or ""
    try:
        _count_source(request)
        redirect_to = services.flows().accept_device(challenge, user_code=user_code)
    except TooManyAttempts as refused:
        return _form(request, challenge, user_code=user_code, message=TOO_MANY, status=429, error=refused.error)
    except InvalidRequest as refused:
        return _form(request, challenge, user_code=user_code, message=WRONG_CODE, status=400, error=refused.error)
    return redirect(redirect_to, status=303)


def _count_source(request: Request) -> None:
    """Count this attempt against its source address, in one write, before anything is checked.

    The counter's key is an HMAC of the address under the pepper: the table never shows whence people came.
    """
    key = person_key(services.pepper().pepper(), DEVICE_SOURCE, request.source_ip)
    counter = device.PER_SOURCE
    if not counter.allows(counter.count(services.state_store(), key, int(clock.now()))):
        raise TooManyAttempts("too many codes entered from this address")


def _done(connected: bool, error: str | None) -> Page:
    message = "The code expired before you finished." if error == "expired_token" else ""
    return Page("device_done", {"connected": connected, "message": message})
