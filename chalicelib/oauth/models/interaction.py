"""An interaction: one login, consent or device challenge and what it carries (Hydra's ``flow/flow.go``).

    login requested ──accept──▶ login accepted ──▶ consent requested ──accept──▶ consent accepted ──▶ code issued
          │                                              │
          └──reject──▶ rejected ◀─────────reject─────────┘

An :class:`Interaction` is stored at each step under that step's single-use
key (``KINDS``); its transitions are pure: each returns the next interaction
or raises the RFC error, and :class:`~chalicelib.oauth.flows.Flows` stores it.
The ``check_*`` functions validate a login or consent app's answer on its
own, before any challenge is taken (a refused answer costs no write).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.oidc.claims import reserved_in

LOGIN_CHALLENGE = "login_challenge"
LOGIN_VERIFIER = "login_verifier"
CONSENT_CHALLENGE = "consent_challenge"
CONSENT_VERIFIER = "consent_verifier"
DEVICE_CHALLENGE = "device_challenge"
DEVICE_VERIFIER = "device_verifier"

# What a login or consent app may answer when it rejects (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
REJECTION_ERRORS = frozenset(
    {"access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required"}
)
# Hydra's ``remember_for`` bound, and the longest a browser should be trusted without a new login.
MAX_REMEMBER_FOR = 30 * 24 * 3600
MAX_SUBJECT_LENGTH = 255


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1)."""

    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: tuple[str, ...]
    max_age: int | None
    acr_values: tuple[str, ...] = ()
    # The login_hint sealed (``Flows.seal_login_hint``): it only pre-fills a login form, so the
    # state table, which holds this request at every step, never holds it in clear.
    sealed_login_hint: str | None = None
    ui_locales: tuple[str, ...] = ()
    # Set when the interaction approves a device (RFC 8628) instead of issuing a code.
    device_code_id: str | None = None


@dataclass(frozen=True)
class Authentication:
    """Who signed in, how, and whether the browser should remember it (Hydra's accept-login body)."""

    subject: str
    auth_time: int
    acr: str = ""
    amr: tuple[str, ...] = ()
    remember: bool = False
    remember_for: int = 0
    sid: str = ""
    # With ``remember``: a persistent cookie for the session's lifetime, or (False)
    # a browser-session cookie, gone when the browser closes (RFC 6265 §4.1.2).
    persistent: bool = True


@dataclass(frozen=True)
class Consent:
    """What the person allowed (Hydra's accept-consent body)."""

    grant_scope: tuple[str, ...]
    grant_access_token_audience: tuple[str, ...]
    remember: bool = False
    remember_for: int = 0
    access_token_claims: Mapping[str, Any] = field(default_factory=dict)
    id_token_claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """A login or consent app's refusal, passed on to the client as it chose it."""

    error: str = "access_denied"
    error_description: str = ""

    def __post_init__(self) -> None:
        if self.error not in REJECTION_ERRORS:
            raise InvalidRequest(f"error must be one of {', '.join(sorted(REJECTION_ERRORS))}")


@dataclass(frozen=True)
class Interaction:
    """Everything known about one authorization, carried from step to step."""

    # One interaction, stored under a new single-use key at each step.
    KINDS: ClassVar[tuple[str, ...]] = (
        LOGIN_CHALLENGE,
        LOGIN_VERIFIER,
        CONSENT_CHALLENGE,
        CONSENT_VERIFIER,
        DEVICE_VERIFIER,
    )

    request: AuthorizationRequest
    csrf_hash: str  # digest of the per-flow browser cookie
    requested_at: int
    authentication: Authentication | None = None
    consent: Consent | None = None
    rejection: Rejection | None = None
    # The browser's login session, when it would have let this sign-in skip the
    # login (Hydra's ``skip``): the login app must then accept this subject.
    session: Authentication | None = None

    def accept_login(
        self,
        *,
        subject: str,
        now: int,
        auth_time: int | None = None,
        remember: bool = False,
        remember_for: int = 0,
        acr: str = "",
        amr: Sequence[str] = (),
        persistent: bool = True,
    ) -> Interaction:
        """Login accepted: with ``skip`` the subject must be the session's, and the session goes on."""
        check_subject(subject)
        check_remember_for(remember_for)
        session = self.session
        if session is not None and subject != session.subject:
            raise InvalidRequest("skip is true: subject must be the subject of the login request")
        authentication = Authentication(
            subject=subject,
            auth_time=self.authentication_time(auth_time, now),
            acr=acr or (session.acr if session else ""),
            amr=tuple(amr) or (session.amr if session else ()),
            remember=remember and session is None,  # a session already exists
            remember_for=remember_for,
            sid=session.sid if session else "",
            persistent=persistent,
        )
        return replace(self, authentication=authentication)

    def accept_consent(self, consent: Consent) -> Interaction:
        """Consent accepted: the scopes and audiences granted may only narrow what was requested."""
        check_consent(consent)
        widened = (set(consent.grant_scope) - set(self.request.scope)) | (
            set(consent.grant_access_token_audience) - set(self.request.audience)
        )
        if widened:
            raise InvalidRequest(f"cannot grant what was not requested: {' '.join(sorted(widened))}")
        return replace(self, consent=consent)

    def reject(self, rejection: Rejection) -> Interaction:
        return replace(self, rejection=rejection)

    def fresh_since(self) -> int | None:
        """The oldest ``auth_time`` the client accepts: prompt=login wants a login after the request,
        max_age one at most that old (OIDC Core §3.1.2.1); None when any will do."""
        if "login" in self.request.prompt:
            return self.requested_at
        if self.request.max_age is not None:
            return self.requested_at - self.request.max_age
        return None

    def authentication_time(self, auth_time: int | None, now: int) -> int:
        """When the person really signed in: what the login app says, checked against what the client asked.

        It goes into ID tokens, so it may not be in the future nor older than
        prompt=login / max_age allow; unsaid, it is the session's or now.
        """
        if auth_time is None:
            return self.session.auth_time if self.session else now
        if auth_time <= 0:
            raise InvalidRequest("auth_time must be a positive number of seconds since the epoch")
        if auth_time > now:
            raise InvalidRequest("auth_time must not be in the future")
        oldest = self.fresh_since()
        if oldest is not None and auth_time < oldest:
            raise InvalidRequest(
                "auth_time is older than the client allows (prompt=login or max_age): sign the person in"
            )
        return auth_time


@dataclass(frozen=True)
class DeviceChallenge:
    """The device flow's first step (RFC 8628 §3.3): which device is this browser's person connecting?"""

    KIND: ClassVar[str] = DEVICE_CHALLENGE

    csrf_hash: str  # digest of the per-flow browser cookie
    user_code: str = ""  # only pre-fills the form, never submitted by itself

    def accept(
        self,
        *,
        device_code_id: str,
        client_id: str,
        scope: tuple[str, ...],
        audience: tuple[str, ...],
        redirect_uri: str,
        now: int,
    ) -> Interaction:
        """The person typed a pending device code's user code: an interaction approving that device."""
        request = AuthorizationRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            redirect_uri_given=False,
            scope=scope,
            audience=audience,
            state=None,
            nonce=None,
            code_challenge=None,
            code_challenge_method=None,
            prompt=(),
            max_age=None,
            device_code_id=device_code_id,
        )
        return Interaction(request=request, csrf_hash=self.csrf_hash, requested_at=now)


def check_remember_for(remember_for: int) -> None:
    if not 0 <= remember_for <= MAX_REMEMBER_FOR:
        raise InvalidRequest(f"remember_for must be from 0 to {MAX_REMEMBER_FOR} seconds (30 days)")


def check_subject(subject: str) -> None:
    """``sub`` (OIDC Core §2: at most 255 ASCII characters) as printable ASCII without spaces.

    What a login app answers ends up in tokens, logs and the state table's
    subject index: no control characters, no look-alike Unicode, no spaces
    that could split a log line or a scope-like list.
    """
    if not 1 <= len(subject) <= MAX_SUBJECT_LENGTH:
        raise InvalidRequest(f"subject must be 1 to {MAX_SUBJECT_LENGTH} characters")
    if not all("!" <= character <= "~" for character in subject):
        raise InvalidRequest("subject must be printable ASCII without spaces")


def check_consent(consent: Consent) -> None:
    """A consent app's answer on its own: its ``remember_for`` bound and no claim only Tollgate sets."""
    check_remember_for(consent.remember_for)
    _check_custom_claims("access_token", consent.access_token_claims)
    _check_custom_claims("id_token", consent.id_token_claims)


def _check_custom_claims(token: str, claims: Mapping[str, Any]) -> None:
    # Only names from our own list are echoed back, never the app's arbitrary keys.
    reserved = reserved_in(claims)
    if reserved:
        raise InvalidRequest(f"session.{token} may not set {', '.join(reserved)}: only Tollgate sets these claims")
