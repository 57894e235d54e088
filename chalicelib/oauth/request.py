"""Request parameters with the RFC 6749 rules for reading them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.events import Recorder
from chalicelib.oauth.http import FORM_CONTENT_TYPE, cookie_values, parse_form

# RFC 6749 §3.1/§3.2 forbid repeating a parameter; RFC 8707 §2 allows
# several `resource` values and Tollgate accepts several `audience` values
# the same way (Hydra's name for the same idea).
REPEATABLE = frozenset({"audience", "resource"})

# The longest value each parameter may have, in UTF-8 bytes.  Every value a
# request can carry ends up in the state table, a page or a log, so none is
# unbounded: these are far above what a well-behaved client sends (a state
# or nonce is a random string; a scope a few words; a client_id ours).
MAX_BYTES = {
    "state": 512,
    "nonce": 512,
    "login_hint": 256,
    "client_id": 256,
    "scope": 2048,
    "redirect_uri": 2048,
    # OIDC Core §3.1.2.1: a few ACR URIs, a few BCP 47 tags, a few prompt words, a number.
    "acr_values": 1024,
    "ui_locales": 256,
    "prompt": 64,
    "max_age": 16,
    "response_type": 64,
    "response_mode": 32,
    "display": 32,
    "code_challenge": 128,  # RFC 7636 §4.2: 43 to 128 characters
    "code_challenge_method": 16,
    "user_code": 64,  # RFC 8628 §6.1: 8 letters, maybe a dash and spaces
    "post_logout_redirect_uri": 2048,
    # JWTs: a token to introspect or revoke, an ID token hint.
    "token": 16384,
    "id_token_hint": 16384,
}
DEFAULT_MAX_BYTES = 4096  # any other parameter

# Every parameter name Tollgate reads, at any endpoint or page.  An error names
# a parameter only if it is one of these: any other name was made up by the
# caller, and repeating it would reflect attacker-chosen text into our pages,
# error redirects and logs (OWASP XSS Prevention, CWE-79 / CWE-117).
KNOWN_PARAMETERS = frozenset(
    {
        *MAX_BYTES,
        *REPEATABLE,
        "access_token",
        "acr_values",
        "client_secret",
        "code",
        "code_challenge",
        "code_challenge_method",
        "code_verifier",
        "consent_challenge",
        "consent_verifier",
        "csrf_token",
        "decision",
        "device",
        "device_challenge",
        "device_code",
        "device_verifier",
        "error",
        "grant_type",
        "login_challenge",
        "login_verifier",
        "max_age",
        "password",
        "prompt",
        "refresh_token",
        "remember",
        "request",
        "request_uri",
        "response_mode",
        "response_type",
        "token_type_hint",
        "ui_locales",
        "user_code",
        "username",
    }
)


def parameter(name: str) -> str:
    """How an error names parameter ``name``: by its name if it is ours, else as "a parameter"."""
    return f"parameter '{name}'" if name in KNOWN_PARAMETERS else "a parameter"


# RFC 6749 Appendix A: no OAuth parameter may hold a control character (the loosest syntax,
# UNICODECHARNOCRLF, allows only TAB).  Refusing them in what ``check_all`` checks also keeps
# what is stored bounded: JSON escapes each one as six bytes (``\u0001``).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_length(name: str, value: str) -> str:
    """``value``, or ``invalid_request`` if it is longer than parameter ``name`` may be."""
    limit = MAX_BYTES.get(name, DEFAULT_MAX_BYTES)
    if len(value) * 4 <= limit:  # UTF-8 spends at most four bytes on a character: short enough, not encoded
        return value
    if len(value) > limit or len(value.encode("utf-8", "surrogatepass")) > limit:
        raise InvalidRequest(f"{parameter(name)} is longer than {limit} bytes")
    return value


def check_text(name: str, value: str) -> str:
    """``value``, or ``invalid_request`` if it is longer than parameter ``name`` may be or holds a control character."""
    if _CONTROL.search(check_length(name, value)):
        raise InvalidRequest(f"{parameter(name)} contains a control character")
    return value


class Params:
    """Request parameters with the RFC 6749 rules for reading them."""

    def __init__(self, values: Mapping[str, list[str]]) -> None:
        # §3.1: "Parameters sent without a value MUST be treated as if they
        # were omitted from the request."
        self._values = MappingProxyType({k: [v for v in vs if v != ""] for k, vs in values.items()})

    def get(self, name: str) -> str | None:
        values = self._values.get(name) or []
        if len(values) > 1:
            raise InvalidRequest(f"{parameter(name)} is repeated")
        return check_length(name, values[0]) if values else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidRequest(f"{parameter(name)} is required")
        return value

    def get_all(self, name: str) -> list[str]:
        """Every value of a repeatable parameter, each also split on spaces."""
        values = [check_length(name, value) for value in self._values.get(name, [])]
        return [item for value in values for item in value.split()]

    def check_all(self) -> None:
        """Every parameter, read or not, within its length and free of control characters (and not repeated).

        What an anonymous request may get kept (the authorization request, the device page's prefill) is
        checked so; a form's fields are only capped, so that a username no user can have (control
        characters) fails like a wrong password (``users.possible_username``), with no oracle.
        """
        self.check_no_duplicates()
        for name, values in self._values.items():
            for value in values:
                check_text(name, value)

    def check_no_duplicates(self) -> None:
        for name, values in self._values.items():
            if name not in REPEATABLE and len(values) > 1:
                raise InvalidRequest(f"{parameter(name)} is repeated")

    def __contains__(self, name: object) -> bool:
        return bool(self._values.get(name))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # keys lower-cased
    query: Params
    body: str = ""
    source_ip: str = ""
    # The body parsed once, by the first ``form()`` (an endpoint and its helpers may each ask for it).
    _parsed: dict[str, Mapping[str, list[str]]] = field(default_factory=dict, init=False, compare=False, repr=False)
    # What the core learns while answering this request, for its one outcome (chalicelib.oauth.events).
    events: Recorder = field(default_factory=Recorder, compare=False, repr=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def cookie(self, name: str) -> str | None:
        """The one value of cookie ``name``; two values are refused, never first-wins.

        A browser sends two cookies of one name when someone else (a sibling
        subdomain, a script on plain http) planted a second one with another
        Domain or Path: taking either could let that one win (session
        fixation, a flow bound to the wrong browser).
        """
        values = cookie_values(self.headers.get("cookie")).get(name, [])
        if len(values) > 1:
            raise InvalidRequest(
                f"The browser sent the cookie '{name}' twice. Clear this site's cookies and try again."
            )
        return values[0] if values else None

    def form(self) -> Params:
        """The body as form parameters; anything but a form is ``invalid_request``."""
        if self.content_type != FORM_CONTENT_TYPE:
            raise InvalidRequest(f"the request body must be {FORM_CONTENT_TYPE}")
        values = self._parsed.get("form")
        if values is None:
            values = self._parsed["form"] = parse_form(self.body)
        params = Params(values)
        params.check_no_duplicates()
        return params
