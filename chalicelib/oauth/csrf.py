"""CSRF tokens for Tollgate's own forms: a signed double-submit token bound to what the form acts on.

OWASP CSRF Prevention Cheat Sheet, "signed double-submit cookie".  The
browser keeps a random secret in an HttpOnly, ``SameSite=Strict`` cookie
(``__Host-`` prefixed and ``Secure`` outside the local stage, so a sibling
subdomain cannot plant one); every form carries, in a hidden field,
``HMAC-SHA256(secret, binding)`` where the binding names what the form acts
on (``login:<challenge>``).  A POST passes only if its field equals the HMAC
of the cookie it came with, compared in constant time.  A foreign page can
make the browser send the cookie but can neither read it nor compute the
field, and a token shown for one challenge is useless for another.

One secret per browser serves every form, so two tabs do not overwrite each
other's tokens: :meth:`CsrfGuard.issue` reuses the cookie the request
brought and sets a new one only when there is none.  (A ``Strict`` cookie is
not sent on a navigation that began on another site, such as a client's
redirect to the login page; that page then sets a fresh secret and forms
open in other tabs need a reload.)

Used by the default login and consent pages; the logout and device pages
use it the same way::

    token = guard.issue(request, binding=f"logout:{id}")
    return Page("logout", {"csrf_token": token.value, ...}, cookies=token.cookies)
    ...
    guard.verify(request, request.form(), binding=f"logout:{id}")  # raises CsrfFailure (403)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from chalicelib.oauth.errors import CsrfFailure, OAuthError
from chalicelib.oauth.http import HOST_PREFIX, set_cookie
from chalicelib.oauth.request import Params, Request

FIELD = "csrf_token"  # the hidden form field
COOKIE = "tollgate_csrf"
SECURE_COOKIE = HOST_PREFIX + COOKIE  # always Path=/, so __Host- whenever Secure
COOKIE_MAX_AGE = 24 * 3600
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class CsrfToken:
    value: str  # for the hidden field FIELD
    cookies: tuple[str, ...]  # Set-Cookie values to send with the page; empty when the cookie is reused


def _token(secret: str, binding: str) -> str:
    mac = hmac.new(secret.encode("ascii"), binding.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


class CsrfGuard:
    def __init__(self, *, secure: bool) -> None:
        self._secure = secure
        self.cookie = SECURE_COOKIE if secure else COOKIE

    def _secret(self, request: Request) -> str | None:
        value = request.cookie(self.cookie) or ""
        return value if _SECRET.match(value) else None

    def issue(self, request: Request, *, binding: str) -> CsrfToken:
        """The token for a form acting on ``binding``, and the cookie to set if the browser has none."""
        secret = self._secret(request)
        if secret is not None:
            return CsrfToken(_token(secret, binding), ())
        secret = secrets.token_urlsafe(32)
        cookie = set_cookie(self.cookie, secret, max_age=COOKIE_MAX_AGE, secure=self._secure, same_site="Strict")
        return CsrfToken(_token(secret, binding), (cookie,))

    def verify(self, request: Request, form: Params, *, binding: str) -> None:
        """Accept the POST or raise ``CsrfFailure``."""
        secret = self._secret(request)
        try:
            sent = form.get(FIELD) or ""
        except OAuthError:
            sent = ""  # repeated
        if secret is None or not sent:
            raise CsrfFailure("missing CSRF cookie or field")
        if not hmac.compare_digest(_token(secret, binding).encode(), sent.encode("utf-8", "replace")):
            raise CsrfFailure("CSRF token does not match")
