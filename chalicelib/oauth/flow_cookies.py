"""The cookie that binds a sign-in flow to the browser that started it, a bounded number per browser.

Each flow (an authorization request, a device page) gets its own cookie,
``tollgate_flow_<16 hex of its hash>``, so sign-ins in two tabs do not
overwrite each other; the flow keeps only the digest of the cookie's value,
and a verifier coming back is honoured only with the matching cookie.

One cookie per hop would let a page that bounces a browser through
``/oauth2/auth`` grow its Cookie header until API Gateway refuses every
request from it (10 KB): a new flow therefore expires the oldest ones
beyond ``MAX_FLOWS``.  The value starts with its issue time, so "oldest"
does not depend on the order a browser sends cookies in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.oauth.http import CookiePolicy, cookie_values
from chalicelib.oauth.request import Request
from chalicelib.tokens.hashing import digest

FLOW_COOKIE_PREFIX = "tollgate_flow_"
FLOW_COOKIE_PATH = "oauth2/"  # sent to the authorization endpoint and the device page only
MAX_FLOWS = 5  # sign-ins in progress per browser (tabs); a sixth drops the oldest


@dataclass(frozen=True)
class FlowBinding:
    """A new flow's browser binding."""

    secret: str  # the cookie's value; the flow keeps only its digest (``csrf_hash``)
    cookies: tuple[str, ...]  # Set-Cookie lines: the new cookie, then the oldest flows' expired ones


def _name(csrf_hash: str) -> str:
    return FLOW_COOKIE_PREFIX + csrf_hash[:16]


def _issued_at(value: str) -> int:
    stamp = value.partition(".")[0]
    return int(stamp) if stamp.isdigit() and len(stamp) <= 12 else 0  # a value without one is the oldest


class FlowCookies:
    def __init__(self, policy: CookiePolicy, *, max_age: int) -> None:
        self._policy = policy
        self._max_age = max_age

    def start(self, request: Request) -> FlowBinding:
        """Bind a new flow to this browser, dropping its oldest flows beyond ``MAX_FLOWS``."""
        value = f"{int(clock.now())}.{secrets.token_urlsafe(24)}"
        new = self._policy.set(_name(digest(value)), value, max_age=self._max_age, under=FLOW_COOKIE_PATH)
        expired = [self._policy.set(name, "", max_age=0, under=FLOW_COOKIE_PATH) for name in self._oldest(request)]
        return FlowBinding(value, (new, *expired))

    def _oldest(self, request: Request) -> list[str]:
        """The unprefixed names of the flows this browser holds beyond ``MAX_FLOWS - 1``, oldest first."""
        prefix = self._policy.name(FLOW_COOKIE_PREFIX)
        held = [
            (_issued_at(values[-1]), order, name.removeprefix(self._policy.name("")))
            for order, (name, values) in enumerate(cookie_values(request.headers.get("cookie")).items())
            if name.startswith(prefix)
        ]
        held.sort()
        return [name for _, _, name in held[: max(0, len(held) - (MAX_FLOWS - 1))]]

    def matches(self, request: Request, csrf_hash: str) -> bool:
        """Whether this browser holds the cookie of the flow whose digest is ``csrf_hash``."""
        value = request.cookie(self._policy.name(_name(csrf_hash)))
        return value is not None and secrets.compare_digest(digest(value), csrf_hash)
