"""The headless contract: the operations a team's own login and consent app calls.

They run in their own Lambda function, ``interactions`` (``tollgate-STAGE-interactions``),
never in the admin function: the login app is granted ``lambda:InvokeFunction``
on this function alone, whose role may read clients, read and write the
state table's challenges and read the pepper (to open the sealed
``login_hint``), and nothing else (``infra/policies.py``).  A
compromised login app can therefore answer challenges, which it owns anyway,
but not register a client with its own redirect URIs, nor touch users or keys.

Same names and fields as Hydra's ``/admin/oauth2/auth/requests/{login,consent}``
get / accept / reject, so a login app written for Hydra ports with a change of
transport.  Each operation takes the challenge from the query string the app
was sent (``login_challenge`` / ``consent_challenge``) and answers, for accept
and reject, ``{"redirect_to": ...}``: where the app sends the browser next.

- ``login.get``: Hydra's login request; ``skip`` true (with ``subject``) when
  Tollgate's login session would do, and the app must then accept that subject;
  ``request_url`` carries the client's ``prompt`` and ``max_age``.
- ``login.accept``: ``subject`` (required; 1-255 printable ASCII characters, no
  space, never a registered ``client_id``), ``remember``, ``remember_for`` (integer
  seconds, 0 to 30 days; 0 = the default session lifetime), ``persistent``
  (default true: with ``remember``, a cookie that outlives the browser; false:
  a browser-session cookie), ``acr``, ``amr``, ``auth_time`` (when the person
  really signed in, seconds since the epoch; default now).
- ``consent.accept``: ``grant_scope``, ``grant_access_token_audience``, ``remember``,
  ``remember_for`` (as for login), ``session`` = ``{"access_token": {...}, "id_token": {...}}``
  extra claims.
- ``login.reject`` / ``consent.reject``: ``error`` (default ``access_denied``),
  ``error_description``.
- ``device.get`` / ``device.accept`` (``user_code``, as the person typed it) /
  ``device.reject``: the device flow's first step (RFC 8628 §3.3), as in
  Hydra's device flow; then login and consent as above.
"""

from __future__ import annotations

from typing import Any

from chalicelib import services
from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.events import CONSENT_ALLOW, CONSENT_DENY, LOGIN_REJECTED, LOGIN_SUCCESS, Outcome
from chalicelib.operations import Operation, Params, dispatch


def handle(event: Any) -> dict[str, Any]:
    """The interactions function: one of :data:`OPERATIONS`, the same event and answer as the admin function."""
    return dispatch(event, OPERATIONS)


def _typed(params: Params, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = params.get(name, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequest(f"'{name}' has the wrong type")
    return value


def _strings(params: Params, name: str) -> list[str]:
    value = _typed(params, name, list, [])
    if not all(isinstance(item, str) for item in value):
        raise InvalidRequest(f"'{name}' must be a list of strings")
    return value


def _only(params: Params, allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidRequest(f"unexpected parameter: {', '.join(unknown)}")


def _challenge(params: Params, name: str) -> str:
    return _typed(params, name, str, "")


def get_login(params: Params) -> dict[str, Any]:
    _only(params, {"login_challenge"})
    return services.flows().login_request(_challenge(params, "login_challenge")).to_dict()


def accept_login(params: Params) -> dict[str, Any]:
    _only(
        params,
        {"login_challenge", "subject", "remember", "remember_for", "persistent", "acr", "amr", "auth_time"},
    )
    subject = _typed(params, "subject", str, "")
    flows = services.flows()
    flows.refuse_client_subject(subject)
    redirect_to = flows.accept_login(
        _challenge(params, "login_challenge"),
        subject=subject,
        remember=_typed(params, "remember", bool, False),
        remember_for=_typed(params, "remember_for", int, 0),
        persistent=_typed(params, "persistent", bool, True),
        acr=_typed(params, "acr", str, ""),
        amr=_strings(params, "amr"),
        auth_time=_typed(params, "auth_time", int, None) if "auth_time" in params else None,
    )
    return {"redirect_to": redirect_to}


def _rejection(params: Params) -> dict[str, str]:
    return {
        "error": _typed(params, "error", str, "access_denied"),
        "error_description": _typed(params, "error_description", str, ""),
    }


def reject_login(params: Params) -> dict[str, Any]:
    _only(params, {"login_challenge", "error", "error_description"})
    redirect_to = services.flows().reject_login(_challenge(params, "login_challenge"), **_rejection(params))
    return {"redirect_to": redirect_to}


def get_consent(params: Params) -> dict[str, Any]:
    _only(params, {"consent_challenge"})
    return services.flows().consent_request(_challenge(params, "consent_challenge")).to_dict()


def accept_consent(params: Params) -> dict[str, Any]:
    _only(
        params,
        {"consent_challenge", "grant_scope", "grant_access_token_audience", "remember", "remember_for", "session"},
    )
    session = _typed(params, "session", dict, {})
    _only(session, {"access_token", "id_token"})
    redirect_to = services.flows().accept_consent(
        _challenge(params, "consent_challenge"),
        grant_scope=_strings(params, "grant_scope"),
        grant_access_token_audience=_strings(params, "grant_access_token_audience"),
        remember=_typed(params, "remember", bool, False),
        remember_for=_typed(params, "remember_for", int, 0),
        access_token_claims=_typed(session, "access_token", dict, {}),
        id_token_claims=_typed(session, "id_token", dict, {}),
    )
    return {"redirect_to": redirect_to}


def reject_consent(params: Params) -> dict[str, Any]:
    _only(params, {"consent_challenge", "error", "error_description"})
    redirect_to = services.flows().reject_consent(_challenge(params, "consent_challenge"), **_rejection(params))
    return {"redirect_to": redirect_to}


def get_device(params: Params) -> dict[str, Any]:
    _only(params, {"device_challenge"})
    return services.flows().device_request(_challenge(params, "device_challenge"))


def accept_device(params: Params) -> dict[str, Any]:
    _only(params, {"device_challenge", "user_code"})
    challenge = _challenge(params, "device_challenge")
    return {"redirect_to": services.flows().accept_device(challenge, user_code=_typed(params, "user_code", str, ""))}


def reject_device(params: Params) -> dict[str, Any]:
    _only(params, {"device_challenge"})
    return {"redirect_to": services.flows().reject_device(_challenge(params, "device_challenge"))}


OPERATIONS: dict[str, Operation] = {
    "device.get": get_device,
    "device.accept": accept_device,
    "device.reject": reject_device,
    "login.get": get_login,
    "login.accept": accept_login,
    "login.reject": reject_login,
    "consent.get": get_consent,
    "consent.accept": accept_consent,
    "consent.reject": reject_consent,
}

# What an answered challenge counts as (the Logins and Consents metrics), when the operation succeeds.
OUTCOMES: dict[str, Outcome] = {
    "login.accept": Outcome(login=LOGIN_SUCCESS),
    "login.reject": Outcome(login=LOGIN_REJECTED),
    "consent.accept": Outcome(consent=CONSENT_ALLOW),
    "consent.reject": Outcome(consent=CONSENT_DENY),
}
