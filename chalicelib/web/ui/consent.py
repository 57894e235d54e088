"""Tollgate's own consent app, ``GET/POST /ui/consent`` (DESIGN §4).

The default ``CONSENT_URL``; like the login page it uses only what the admin
function offers any consent app (Hydra's get / accept / reject consent
request).  GET shows the client's name, the requested scopes in plain words,
the audiences, a ``Remember this decision`` checkbox and the buttons
``Allow`` and ``Deny``.  POST checks the CSRF token (bound to the challenge);
Allow grants exactly what was requested, Deny rejects with ``access_denied``;
either way the answer is 303 to where the flow goes next.
"""

from __future__ import annotations

from chalicelib import services
from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.events import CONSENT_ALLOW, CONSENT_DENY
from chalicelib.oauth.http import Page, Response, redirect
from chalicelib.oauth.interaction_requests import ConsentRequest
from chalicelib.oauth.request import Request
from chalicelib.web.ui.pages import client_context, shows_errors

# OIDC Core §5.4 and §11 scopes in words a person understands; any other scope is shown as it is.
SCOPE_WORDS = {
    "openid": "Sign you in with your account",
    "profile": "See your name and username",
    "email": "See your email address",
    "offline_access": "Keep access when you are not using it",
}


def _binding(challenge: str) -> str:
    return f"consent:{challenge}"


def _form(request: Request, consent: ConsentRequest) -> Page:
    token = services.csrf_guard().issue(request, binding=_binding(consent.challenge))
    context = {
        **client_context(consent.client),
        "consent_challenge": consent.challenge,
        "csrf_token": token.value,
        "scopes": [{"name": scope, "words": SCOPE_WORDS.get(scope, scope)} for scope in consent.requested_scope],
        "audiences": consent.requested_access_token_audience,
    }
    return Page("consent", context, cookies=token.cookies)


def _allow(consent: ConsentRequest, *, remember: bool) -> str:
    return services.flows().accept_consent(
        consent.challenge,
        grant_scope=consent.requested_scope,
        grant_access_token_audience=consent.requested_access_token_audience,
        remember=remember,
    )


@shows_errors
def show(request: Request) -> Response | Page:
    # No ``skip`` branch: remembered consent is answered at the authorization endpoint, so a consent
    # challenge only exists when the person must be asked (``ConsentRequest.skip`` is always false).
    return _form(request, services.flows().consent_request(request.query.get("consent_challenge") or ""))


@shows_errors
def submit(request: Request) -> Response | Page:
    form = request.form()
    challenge = form.get("consent_challenge") or ""
    services.csrf_guard().verify(request, form, binding=_binding(challenge))
    consent = services.flows().consent_request(challenge)
    decision = form.get("decision")
    if decision == "allow":
        redirect_to = _allow(consent, remember="remember" in form)
        request.events.consent = CONSENT_ALLOW
        return redirect(redirect_to, status=303)
    if decision == "deny":
        redirect_to = services.flows().reject_consent(challenge)
        request.events.consent = CONSENT_DENY
        return redirect(redirect_to, status=303)
    raise InvalidRequest("choose Allow or Deny")
