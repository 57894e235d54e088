"""The login and consent flow: an explicit state machine, as in Hydra (``flow/flow.go``).

    login requested ──accept──▶ login accepted ──▶ consent requested ──accept──▶ consent accepted ──▶ code issued
          │                                              │
          └──reject──▶ rejected ◀─────────reject─────────┘

Each state lives in the state table under its own single-use key: a
``login_challenge`` becomes a ``login_verifier`` when the login app accepts
or rejects it, the authorization endpoint redeems the verifier and creates a
``consent_challenge``, which becomes a ``consent_verifier``, which the
authorization endpoint redeems for a code.  Every step is a conditional
``consume`` of the previous key, so no challenge or verifier works twice and
no step can be skipped.  Challenges expire after ``CHALLENGE_TTL``.
For Tollgate's own login and device pages, the login and device challenges
are not stored but sealed (:mod:`chalicelib.oauth.sealed_challenges`): an
anonymous visit writes nothing, and the verifier answering one is derived
from it and stored only if absent, in the transaction that closes the
challenge's small state item (where a sealed login challenge's attempts are
counted), so it too is answered once.

The login and consent apps (Tollgate's own pages, or a team's app through
the admin function) only ever see challenges; verifiers travel through the
browser back to ``/oauth2/auth``, which also checks a per-flow cookie so a
verifier cannot be replayed in another browser.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from chalicelib import clock
from chalicelib.oauth import device, paths
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidRequest, NotFound, TooManyAttempts
from chalicelib.oauth.oidc.claims import reserved_in
from chalicelib.oauth.ports import AlreadyConsumed, ClientLookup, Pepper, StateItem, StateStore
from chalicelib.oauth.sealed_challenges import STATE_KIND, Opened, SealedChallenges
from chalicelib.oauth.sealing import Sealer
from chalicelib.tokens.hashing import digest

LOGIN_CHALLENGE = "login_challenge"
LOGIN_VERIFIER = "login_verifier"
CONSENT_CHALLENGE = "consent_challenge"
CONSENT_VERIFIER = "consent_verifier"
DEVICE_CHALLENGE = "device_challenge"
DEVICE_VERIFIER = "device_verifier"

WRONG_USER_CODE = "the code is not valid or has expired"
LOGIN_VOID = "Too many failed attempts. Start signing in again from the application."
LOGIN_ATTEMPTS = 10  # sign-in attempts one login challenge allows (LOGIN_CHALLENGE_MAX_ATTEMPTS)


def new_challenge() -> str:
    """256 random bits, never starting with ``-``: a login app passes challenges as command-line arguments."""
    while (value := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return value


# What a login or consent app may answer when it rejects (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
REJECTION_ERRORS = frozenset(
    {"access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required"}
)


def _rejection(error: str, error_description: str) -> Rejection:
    if error not in REJECTION_ERRORS:
        raise InvalidRequest(f"error must be one of {', '.join(sorted(REJECTION_ERRORS))}")
    return Rejection(error, error_description)


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
    # Set when the flow approves a device (RFC 8628) instead of issuing a code.
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
    error: str = "access_denied"
    error_description: str = ""


@dataclass(frozen=True)
class Flow:
    """Everything known about one authorization, carried from state to state."""

    request: AuthorizationRequest
    csrf_hash: str  # digest of the per-flow browser cookie
    requested_at: int
    authentication: Authentication | None = None
    consent: Consent | None = None
    rejection: Rejection | None = None
    # The browser's login session, when it would have let this sign-in skip the
    # login (Hydra's ``skip``): the login app must then accept this subject.
    session: Authentication | None = None

    def to_payload(self) -> dict[str, Any]:
        return _encode(self)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Flow:
        return _decode(payload)


@dataclass(frozen=True)
class _Taken:
    """A challenge taken to be answered."""

    kind: str
    payload: dict[str, Any]
    item: StateItem | None = None  # a stored challenge, now consumed: put back if the answer is refused
    sealed: Opened | None = None  # a sealed challenge: its one verifier derives from its id

    @property
    def flow(self) -> Flow:
        return Flow.from_payload(self.payload)


@dataclass(frozen=True)
class LoginRequest:
    """What a login app sees (Hydra's OAuth2LoginRequest)."""

    challenge: str
    client: dict[str, Any]
    requested_scope: list[str]
    requested_access_token_audience: list[str]
    skip: bool
    subject: str
    request_url: str
    oidc_context: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ConsentRequest:
    """What a consent app sees (Hydra's OAuth2ConsentRequest)."""

    challenge: str
    client: dict[str, Any]
    requested_scope: list[str]
    requested_access_token_audience: list[str]
    skip: bool  # Hydra's field, always false here: remembered consent never reaches the consent app
    subject: str
    acr: str
    amr: list[str]
    request_url: str
    oidc_context: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _encode(flow: Flow) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if hasattr(value, "__dataclass_fields__"):
            return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(flow)


def _tuples(data: Mapping[str, Any], cls: type) -> dict[str, Any]:
    names = cls.__dataclass_fields__
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}


def _decode(payload: Mapping[str, Any]) -> Flow:
    def part(name: str, cls: type) -> Any:
        value = payload.get(name)
        return cls(**_tuples(value, cls)) if value else None

    return Flow(
        request=AuthorizationRequest(**_tuples(payload["request"], AuthorizationRequest)),
        csrf_hash=payload["csrf_hash"],
        requested_at=payload["requested_at"],
        authentication=part("authentication", Authentication),
        consent=part("consent", Consent),
        rejection=part("rejection", Rejection),
        session=part("session", Authentication),
    )


def _oidc_context(request: AuthorizationRequest, login_hint: str | None) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if request.acr_values:
        context["acr_values"] = list(request.acr_values)
    if login_hint:
        context["login_hint"] = login_hint
    if request.ui_locales:
        context["ui_locales"] = list(request.ui_locales)
    return context


def _fresh_since(flow: Flow) -> int | None:
    """The oldest ``auth_time`` the client accepts: prompt=login wants a login after the request,
    max_age one at most that old (OIDC Core §3.1.2.1); None when any will do."""
    request = flow.request
    if "login" in request.prompt:
        return flow.requested_at
    if request.max_age is not None:
        return flow.requested_at - request.max_age
    return None


def _authentication_time(flow: Flow, auth_time: int | None, now: int) -> int:
    """When the person really signed in: what the login app says, checked against what the client asked."""
    if auth_time is None:
        return flow.session.auth_time if flow.session else now
    if auth_time <= 0:
        raise InvalidRequest("auth_time must be a positive number of seconds since the epoch")
    if auth_time > now:
        raise InvalidRequest("auth_time must not be in the future")
    oldest = _fresh_since(flow)
    if oldest is not None and auth_time < oldest:
        raise InvalidRequest("auth_time is older than the client allows (prompt=login or max_age): sign the person in")
    return auth_time


# Hydra's ``remember_for`` bound, and the longest a browser should be trusted without a new login.
MAX_REMEMBER_FOR = 30 * 24 * 3600
MAX_SUBJECT_LENGTH = 255


def _check_remember_for(remember_for: int) -> None:
    if not 0 <= remember_for <= MAX_REMEMBER_FOR:
        raise InvalidRequest(f"remember_for must be from 0 to {MAX_REMEMBER_FOR} seconds (30 days)")


def _check_subject(subject: str) -> None:
    """``sub`` (OIDC Core §2: at most 255 ASCII characters) as printable ASCII without spaces.

    What a login app answers ends up in tokens, logs and the state table's
    subject index: no control characters, no look-alike Unicode, no spaces
    that could split a log line or a scope-like list.
    """
    if not 1 <= len(subject) <= MAX_SUBJECT_LENGTH:
        raise InvalidRequest(f"subject must be 1 to {MAX_SUBJECT_LENGTH} characters")
    if not all("!" <= character <= "~" for character in subject):
        raise InvalidRequest("subject must be printable ASCII without spaces")


def _check_custom_claims(token: str, claims: Mapping[str, Any]) -> None:
    # Only names from our own list are echoed back, never the app's arbitrary keys.
    reserved = reserved_in(claims)
    if reserved:
        raise InvalidRequest(f"session.{token} may not set {', '.join(reserved)}: only Tollgate sets these claims")


class Flows:
    """The state machine's transitions, on the storage port."""

    def __init__(
        self,
        store: StateStore,
        clients: ClientLookup,
        pepper: Pepper,
        *,
        issuer: str,
        challenge_ttl: int,
        login_attempts: int = LOGIN_ATTEMPTS,
    ) -> None:
        self._store = store
        self._clients = clients
        self._issuer = issuer
        self._ttl = challenge_ttl
        self._login_attempts = login_attempts
        self._login_hints = Sealer(pepper, "login_hint")
        self._sealed = SealedChallenges(pepper, ttl=challenge_ttl)

    def seal_login_hint(self, login_hint: str | None) -> str | None:
        return self._login_hints.seal(login_hint.encode()) if login_hint else None

    def _login_hint(self, request: AuthorizationRequest) -> str | None:
        sealed = request.sealed_login_hint
        opened = self._login_hints.open(sealed) if sealed else None
        return opened.decode() if opened else None

    @property
    def challenge_ttl(self) -> int:
        return self._ttl

    # -- creating and redeeming keys -------------------------------------------------

    def _put(self, kind: str, flow: Flow) -> str:
        value = new_challenge()
        expires_at = int(clock.now()) + self._ttl
        self._store.upsert(StateItem(kind, digest(value), flow.to_payload(), expires_at))
        return value

    def _peek(self, kind: str, value: str) -> Flow:
        if self._sealed.is_sealed(value):
            return Flow.from_payload(self._open(kind, value).payload)
        item = self._store.find(kind, digest(value)) if value else None
        if item is None:
            raise NotFound(f"unknown, used or expired {kind}")
        return Flow.from_payload(item.payload)

    def _open(self, kind: str, value: str) -> Opened:
        opened = self._sealed.open(kind, value)
        if opened is None:
            raise NotFound(f"unknown, tampered with or expired sealed {kind}")
        return opened

    def _take_challenge(self, kind: str, value: str) -> _Taken:
        """A challenge taken to be answered: a stored one is consumed, a sealed one only opened."""
        if self._sealed.is_sealed(value):
            opened = self._open(kind, value)
            return _Taken(kind, opened.payload, sealed=opened)
        item = self._take_item(kind, value)
        return _Taken(kind, item.payload, item=item)

    def _put_back(self, taken: _Taken) -> None:
        """Reopen a challenge whose answer was refused (a sealed one was not closed yet).

        Only our own consume is undone, in place: the attempts counted on it stay counted.
        """
        if taken.item is not None:
            self._store.release(taken.item.kind, taken.item.id, taken.item.consumed_at or 0)

    def _answer(self, taken: _Taken, kind: str, flow: Flow) -> str:
        """Store the answer to a taken challenge as a ``kind`` verifier: the verifier.

        A sealed challenge's verifier is derived from its id and stored only if
        absent, in the transaction that closes the challenge's state item (so
        no more attempts are counted on it): a second answer fails like a used
        challenge.
        """
        sealed = taken.sealed
        if sealed is None:
            return self._put(kind, flow)
        verifier = self._sealed.verifier(kind, sealed.id)
        item = StateItem(kind, digest(verifier), flow.to_payload(), int(clock.now()) + self._ttl)
        closing = (STATE_KIND, sealed.state_id(taken.kind), sealed.expires_at)
        if not self._store.insert_all([item], closing=[closing]):
            raise NotFound(f"this sealed challenge was already answered ({kind} exists)")
        return verifier

    def _take_item(self, kind: str, value: str) -> StateItem:
        try:
            item = self._store.consume(kind, digest(value)) if value else None
        except (KeyError, AlreadyConsumed):
            item = None
        if item is None:
            raise NotFound(f"unknown, used or expired {kind}")
        return item

    def _take(self, kind: str, value: str) -> Flow:
        return Flow.from_payload(self._take_item(kind, value).payload)

    def _client(self, flow: Flow) -> Client:
        client = self._clients.find(flow.request.client_id)
        if client is None:
            raise NotFound("the client of this flow no longer exists")
        return client

    def _back_to_authorize(self, parameter: str, verifier: str) -> str:
        return self._back_to(paths.AUTHORIZATION, parameter, verifier)

    def _back_to(self, path: str, parameter: str, verifier: str) -> str:
        return f"{self._issuer}{path}?{urlencode({parameter: verifier})}"

    # -- called by the authorization endpoint --------------------------------------

    def new_flow(self, request: AuthorizationRequest, csrf_cookie: str) -> Flow:
        return Flow(request=request, csrf_hash=digest(csrf_cookie), requested_at=int(clock.now()))

    def request_login(self, flow: Flow, *, sealed: bool = False) -> str:
        """Login requested: the ``login_challenge`` for the login app.

        ``sealed``: for Tollgate's own login page, the challenge carries the flow
        and nothing is stored (:mod:`~chalicelib.oauth.sealed_challenges`), unless
        the flow is too large to travel in a URL.
        """
        challenge = self._sealed.seal(LOGIN_CHALLENGE, flow.to_payload()) if sealed else None
        return challenge or self._put(LOGIN_CHALLENGE, flow)

    def request_consent(self, flow: Flow) -> str:
        """Consent requested: the ``consent_challenge`` for the consent app."""
        return self._put(CONSENT_CHALLENGE, flow)

    def redeem_login_verifier(self, verifier: str) -> Flow:
        return self._take(LOGIN_VERIFIER, verifier)

    def redeem_consent_verifier(self, verifier: str) -> Flow:
        return self._take(CONSENT_VERIFIER, verifier)

    # -- called by login and consent apps (default pages and the admin function) -------

    def login_request(self, challenge: str) -> LoginRequest:
        return self._login_request(challenge, self._login_item(challenge, count=False))

    def attempt_login(self, challenge: str) -> LoginRequest:
        """Count one sign-in attempt against the challenge, before any password is checked.

        One conditional write both counts and reads the challenge (no
        read-then-write), so of racing attempts at most ``login_attempts`` get
        through; the next finds the challenge void (``TooManyAttempts``), right
        password or not.  Only Tollgate's own login page calls this: it is
        what bounds the scrypt runs one challenge can buy.
        """
        return self._login_request(challenge, self._login_item(challenge, count=True))

    def _login_item(self, challenge: str, *, count: bool) -> StateItem | None:
        """The login challenge's item (as it was before this attempt, if ``count``); None if unknown or used.

        A sealed challenge is counted on its state item instead, which the
        first attempt creates (an anonymous visit still writes nothing) and
        its answer closes; the login page reads it (one GetItem), so a void
        or answered challenge shows its page rather than a form.
        """
        if not self._sealed.is_sealed(challenge):
            if not challenge:
                return None
            id = digest(challenge)
            return self._store.tally(LOGIN_CHALLENGE, id) if count else self._store.find(LOGIN_CHALLENGE, id)
        opened = self._open(LOGIN_CHALLENGE, challenge)
        id = opened.state_id(LOGIN_CHALLENGE)
        if count:
            state = self._store.tally(STATE_KIND, id, create_until=opened.expires_at)  # None: answered
        else:
            state = self._store.find(STATE_KIND, id, even_consumed=True) or StateItem(STATE_KIND, id, {}, 0)
        if state is None or state.consumed_at is not None:
            return None
        return StateItem(LOGIN_CHALLENGE, id, opened.payload, opened.expires_at, counter=state.counter)

    def _login_request(self, challenge: str, item: StateItem | None) -> LoginRequest:
        """What the login app sees of the challenge ``item`` (as it was before this attempt, if counted)."""
        if item is None:
            raise NotFound(f"unknown, used or expired {LOGIN_CHALLENGE}")
        if item.counter >= self._login_attempts:
            raise TooManyAttempts(LOGIN_VOID)
        flow = Flow.from_payload(item.payload)
        return LoginRequest(
            challenge=challenge,
            client=self._client(flow).metadata(),
            requested_scope=list(flow.request.scope),
            requested_access_token_audience=list(flow.request.audience),
            skip=flow.session is not None,
            subject=flow.session.subject if flow.session else "",
            request_url=self._request_url(flow),
            oidc_context=_oidc_context(flow.request, self._login_hint(flow.request)),
        )

    def accept_login(
        self,
        challenge: str,
        *,
        subject: str,
        remember: bool = False,
        remember_for: int = 0,
        acr: str = "",
        amr: Sequence[str] = (),
        auth_time: int | None = None,
        persistent: bool = True,
    ) -> str:
        """Login accepted: where the login app sends the browser next (Hydra's ``redirect_to``).

        ``auth_time`` is when the person really signed in (default: now);
        it goes into ID tokens, so it may not be in the future nor older
        than prompt=login / max_age allow.  With ``skip`` the subject must be
        the session's, and the session (its sign-in time and ``sid``) goes on.
        A refused answer leaves the challenge open, so the app can correct it.
        """
        _check_subject(subject)
        _check_remember_for(remember_for)
        # Consume first and check the answer against what it held: no extra read
        # on the way that succeeds; a refusal puts the challenge back as it was.
        taken = self._take_challenge(LOGIN_CHALLENGE, challenge)
        flow = taken.flow
        session = flow.session
        try:
            if session is not None and subject != session.subject:
                raise InvalidRequest("skip is true: subject must be the subject of the login request")
            signed_in_at = _authentication_time(flow, auth_time, int(clock.now()))
        except InvalidRequest:
            self._put_back(taken)
            raise
        authentication = Authentication(
            subject=subject,
            auth_time=signed_in_at,
            acr=acr or (session.acr if session else ""),
            amr=tuple(amr) or (session.amr if session else ()),
            remember=remember and session is None,  # a session already exists
            remember_for=remember_for,
            sid=session.sid if session else "",
            persistent=persistent,
        )
        verifier = self._answer(taken, LOGIN_VERIFIER, replace(flow, authentication=authentication))
        return self._back_to_authorize("login_verifier", verifier)

    def refuse_client_subject(self, subject: str) -> None:
        """A login app may not sign a person in as a registered client (RFC 9700 §4.15).

        A client_credentials token names its client in ``sub``: a person with
        the same ``sub`` would be indistinguishable from that client to an API.
        One read of the client registry (cached), only for login apps' answers,
        after the subject's syntax is checked (nothing unbounded reaches DynamoDB).
        """
        _check_subject(subject)
        if self._clients.find(subject) is not None:
            raise InvalidRequest("subject must not be a registered client_id")

    def reject_login(self, challenge: str, *, error: str = "access_denied", error_description: str = "") -> str:
        rejection = _rejection(error, error_description)
        taken = self._take_challenge(LOGIN_CHALLENGE, challenge)
        verifier = self._answer(taken, LOGIN_VERIFIER, replace(taken.flow, rejection=rejection))
        return self._back_to_authorize("login_verifier", verifier)

    def consent_request(self, challenge: str) -> ConsentRequest:
        flow = self._peek(CONSENT_CHALLENGE, challenge)
        authentication = flow.authentication or Authentication(subject="", auth_time=0)
        return ConsentRequest(
            challenge=challenge,
            client=self._client(flow).metadata(),
            requested_scope=list(flow.request.scope),
            requested_access_token_audience=list(flow.request.audience),
            skip=False,
            subject=authentication.subject,
            acr=authentication.acr,
            amr=list(authentication.amr),
            request_url=self._request_url(flow),
            oidc_context=_oidc_context(flow.request, self._login_hint(flow.request)),
        )

    def accept_consent(
        self,
        challenge: str,
        *,
        grant_scope: Sequence[str],
        grant_access_token_audience: Sequence[str] = (),
        remember: bool = False,
        remember_for: int = 0,
        access_token_claims: Mapping[str, Any] | None = None,
        id_token_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Consent accepted: the scopes and audiences granted may only narrow what was requested."""
        _check_remember_for(remember_for)
        _check_custom_claims("access_token", access_token_claims or {})
        _check_custom_claims("id_token", id_token_claims or {})
        flow = self._take(CONSENT_CHALLENGE, challenge)
        widened = (set(grant_scope) - set(flow.request.scope)) | (
            set(grant_access_token_audience) - set(flow.request.audience)
        )
        if widened:
            raise InvalidRequest(f"cannot grant what was not requested: {' '.join(sorted(widened))}")
        consent = Consent(
            grant_scope=tuple(grant_scope),
            grant_access_token_audience=tuple(grant_access_token_audience),
            remember=remember,
            remember_for=remember_for,
            access_token_claims=dict(access_token_claims or {}),
            id_token_claims=dict(id_token_claims or {}),
        )
        verifier = self._put(CONSENT_VERIFIER, replace(flow, consent=consent))
        return self._back_to_authorize("consent_verifier", verifier)

    def reject_consent(self, challenge: str, *, error: str = "access_denied", error_description: str = "") -> str:
        rejection = _rejection(error, error_description)
        verifier = self._put(CONSENT_VERIFIER, replace(self._take(CONSENT_CHALLENGE, challenge), rejection=rejection))
        return self._back_to_authorize("consent_verifier", verifier)

    # -- the device flow's first step (RFC 8628 §3.3): which device is this? -------------

    def request_device(self, csrf_cookie: str, user_code: str = "", *, sealed: bool = False) -> str:
        """A ``device_challenge`` for the device app; ``user_code`` pre-fills its form (never auto-submits).

        ``sealed``: for Tollgate's own device page, nothing is stored until a code is accepted.
        """
        payload = {"csrf_hash": digest(csrf_cookie), "user_code": user_code}
        value = self._sealed.seal(DEVICE_CHALLENGE, payload) if sealed else None
        if value is None:
            value = new_challenge()
            self._store.upsert(StateItem(DEVICE_CHALLENGE, digest(value), payload, int(clock.now()) + self._ttl))
        return value

    def device_request(self, challenge: str) -> dict[str, Any]:
        if self._sealed.is_sealed(challenge):
            payload = self._open(DEVICE_CHALLENGE, challenge).payload
        else:
            item = self._store.find(DEVICE_CHALLENGE, digest(challenge)) if challenge else None
            if item is None:
                raise NotFound("unknown, used or expired device_challenge")
            payload = item.payload
        return {"challenge": challenge, "user_code": payload.get("user_code", ""), "request_url": ""}

    def accept_device(self, challenge: str, *, user_code: str) -> str:
        """The person typed ``user_code``: bind that device to this browser's flow.

        The attempt is counted against the challenge first (``TooManyAttempts``
        past ``device.CHALLENGE_LIMIT``), then one ``InvalidRequest`` answers a
        code that is malformed, unknown, expired or already answered and a
        challenge that is unknown, used or expired alike: no oracle for either.
        After a wrong code the challenge stays usable for another try.
        """
        key = digest(f"challenge:{challenge}")  # never the page's per-address key, whatever is sent
        if self._store.increment(device.ATTEMPTS_KIND, key, int(clock.now()) + device.WINDOW) > device.CHALLENGE_LIMIT:
            raise TooManyAttempts("too many wrong codes for this device_challenge; start again")
        code = device.normalize(user_code)
        record = self._store.find_by_user_code(code) if code else None
        request = device.DeviceRequest.from_payload(record.payload) if record else None
        if record is None or request is None or request.status != device.PENDING:
            raise InvalidRequest(WRONG_USER_CODE)
        try:
            started = self._take_challenge(DEVICE_CHALLENGE, challenge)
        except NotFound:
            raise InvalidRequest(WRONG_USER_CODE) from None
        authorization = AuthorizationRequest(
            client_id=request.client_id,
            redirect_uri=f"{self._issuer}{paths.DEVICE_VERIFICATION}",
            redirect_uri_given=False,
            scope=request.scope,
            audience=request.audience,
            state=None,
            nonce=None,
            code_challenge=None,
            code_challenge_method=None,
            prompt=(),
            max_age=None,
            device_code_id=record.id,
        )
        flow = Flow(request=authorization, csrf_hash=started.payload["csrf_hash"], requested_at=int(clock.now()))
        try:
            verifier = self._answer(started, DEVICE_VERIFIER, flow)
        except NotFound:  # a sealed challenge answered before: like a used one
            raise InvalidRequest(WRONG_USER_CODE) from None
        return self._back_to(paths.DEVICE_VERIFICATION, "device_verifier", verifier)

    def reject_device(self, challenge: str) -> str:
        self._take_challenge(DEVICE_CHALLENGE, challenge)  # a sealed one is only checked: it was never stored
        return f"{self._issuer}{paths.DEVICE_VERIFICATION}?{urlencode({'error': 'access_denied'})}"

    def redeem_device_verifier(self, verifier: str) -> Flow:
        return self._take(DEVICE_VERIFIER, verifier)

    def _request_url(self, flow: Flow) -> str:
        """The client's authorization request (Hydra's ``request_url``), rebuilt from what was validated:
        its size is bounded by the parameters' own limits and unknown parameters are not echoed."""
        request = flow.request
        query: list[tuple[str, str]] = [("client_id", request.client_id), ("response_type", "code")]
        if request.redirect_uri_given:
            query.append(("redirect_uri", request.redirect_uri))
        query.append(("scope", " ".join(request.scope)))
        query += [("audience", audience) for audience in request.audience]
        optional = {
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.code_challenge,
            "code_challenge_method": request.code_challenge_method,
            "prompt": " ".join(request.prompt),
            "max_age": None if request.max_age is None else str(request.max_age),
            "acr_values": " ".join(request.acr_values),
            "login_hint": self._login_hint(request),
            "ui_locales": " ".join(request.ui_locales),
        }
        query += [(name, value) for name, value in optional.items() if value]
        return f"{self._issuer}{paths.AUTHORIZATION}?{urlencode(query)}"
