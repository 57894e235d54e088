"""The interactions' service: login, consent and device challenges on the storage port (Hydra's ``flow/``).

The transitions themselves are the model's
(:class:`~chalicelib.oauth.models.interaction.Interaction`); this module
stores each step under its own single-use key: a ``login_challenge``
becomes a ``login_verifier`` when the login app accepts or rejects it, the
authorization endpoint redeems the verifier and creates a
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
the admin function) only ever see challenges
(:mod:`~chalicelib.oauth.interaction_requests`); verifiers travel through the
browser back to ``/oauth2/auth``, which also checks a per-flow cookie so a
verifier cannot be replayed in another browser.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlencode

from chalicelib import clock
from chalicelib.oauth import device, paths
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidRequest, NotFound, TooManyAttempts
from chalicelib.oauth.interaction_requests import AppView, ConsentRequest, LoginRequest
from chalicelib.oauth.models.device_code import DeviceCode
from chalicelib.oauth.models.interaction import (
    CONSENT_CHALLENGE,
    CONSENT_VERIFIER,
    DEVICE_CHALLENGE,
    DEVICE_VERIFIER,
    LOGIN_CHALLENGE,
    LOGIN_VERIFIER,
    AuthorizationRequest,
    Consent,
    DeviceChallenge,
    Interaction,
    Rejection,
    check_consent,
    check_remember_for,
    check_subject,
)
from chalicelib.oauth.models.serial import from_plain, to_plain
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.ports import AlreadyConsumed, ClientLookup, Pepper, StateItem, StateStore
from chalicelib.oauth.sealed_challenges import STATE_KIND, Opened, SealedChallenges
from chalicelib.oauth.sealing import Sealer
from chalicelib.tokens.hashing import digest

M = TypeVar("M")

WRONG_USER_CODE = "the code is not valid or has expired"
LOGIN_VOID = "Too many failed attempts. Start signing in again from the application."
LOGIN_ATTEMPTS = 10  # sign-in attempts one login challenge allows (LOGIN_CHALLENGE_MAX_ATTEMPTS)


def new_challenge() -> str:
    """256 random bits, never starting with ``-``: a login app passes challenges as command-line arguments."""
    while (value := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return value


@dataclass(frozen=True)
class _Taken:
    """A challenge taken to be answered."""

    kind: str
    payload: Mapping[str, Any]
    item: StateItem | None = None  # a stored challenge, now consumed: put back if the answer is refused
    sealed: Opened | None = None  # a sealed challenge: its one verifier derives from its id

    def read(self, model: type[M]) -> M:
        return from_plain(model, self.payload)


class Flows:
    """Each step of an interaction stored under its single-use key; the transitions are the model's."""

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

    def _app_view(self, request: AuthorizationRequest) -> AppView:
        """How the login or consent app sees ``request``: its login_hint opened, if any."""
        sealed = request.sealed_login_hint
        opened = self._login_hints.open(sealed) if sealed else None
        return AppView(self._issuer, opened.decode() if opened else None)

    @property
    def challenge_ttl(self) -> int:
        return self._ttl

    # -- creating and redeeming keys -------------------------------------------------

    def _put(self, kind: str, model: Interaction | DeviceChallenge) -> str:
        value = new_challenge()
        expires_at = int(clock.now()) + self._ttl
        self._store.upsert(StateItem(kind, digest(value), to_plain(model), expires_at))
        return value

    def _peek(self, kind: str, value: str, model: type[M]) -> M:
        if self._sealed.is_sealed(value):
            return from_plain(model, self._open(kind, value).payload)
        item = self._store.find(kind, digest(value)) if value else None
        if item is None:
            raise NotFound(f"unknown, used or expired {kind}")
        return from_plain(model, item.payload)

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

        Still needed: what the answer says on its own is checked before the take,
        but the checks against what the challenge holds (skip's subject, the
        ``auth_time`` prompt=login and max_age allow) can only run on what the
        consume returned (a read first would cost a call on every success).
        Only our own consume is undone (``swap`` compares ``consumed_at``), in
        place: the attempts counted on it stay counted.
        """
        if taken.item is not None:
            self._store.swap(taken.item, replace(taken.item, consumed_at=None))

    def _answer(self, taken: _Taken, kind: str, interaction: Interaction) -> str:
        """Store the answer to a taken challenge as a ``kind`` verifier: the verifier.

        A sealed challenge's verifier is derived from its id and stored only if
        absent, in the transaction that closes the challenge's state item (so
        no more attempts are counted on it): a second answer fails like a used
        challenge.
        """
        sealed = taken.sealed
        if sealed is None:
            return self._put(kind, interaction)
        verifier = self._sealed.verifier(kind, sealed.id)
        item = StateItem(kind, digest(verifier), to_plain(interaction), int(clock.now()) + self._ttl)
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

    def _take(self, kind: str, value: str) -> Interaction:
        return from_plain(Interaction, self._take_item(kind, value).payload)

    def _client(self, interaction: Interaction) -> Client:
        client = self._clients.find(interaction.request.client_id)
        if client is None:
            raise NotFound("the client of this flow no longer exists")
        return client

    def _back_to_authorize(self, parameter: str, verifier: str) -> str:
        return self._back_to(paths.AUTHORIZATION, parameter, verifier)

    def _back_to(self, path: str, parameter: str, verifier: str) -> str:
        return f"{self._issuer}{path}?{urlencode({parameter: verifier})}"

    # -- called by the authorization endpoint --------------------------------------

    def new_flow(self, request: AuthorizationRequest, csrf_cookie: str) -> Interaction:
        return Interaction(request=request, csrf_hash=digest(csrf_cookie), requested_at=int(clock.now()))

    def request_login(self, interaction: Interaction, *, sealed: bool = False) -> str:
        """Login requested: the ``login_challenge`` for the login app.

        ``sealed``: for Tollgate's own login page, the challenge carries the flow
        and nothing is stored (:mod:`~chalicelib.oauth.sealed_challenges`), unless
        the flow is too large to travel in a URL.
        """
        challenge = self._sealed.seal(LOGIN_CHALLENGE, to_plain(interaction)) if sealed else None
        return challenge or self._put(LOGIN_CHALLENGE, interaction)

    def request_consent(self, interaction: Interaction) -> str:
        """Consent requested: the ``consent_challenge`` for the consent app."""
        return self._put(CONSENT_CHALLENGE, interaction)

    def redeem_login_verifier(self, verifier: str) -> Interaction:
        return self._take(LOGIN_VERIFIER, verifier)

    def redeem_consent_verifier(self, verifier: str) -> Interaction:
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
            return self._count(LOGIN_CHALLENGE, id) if count else self._store.find(LOGIN_CHALLENGE, id)
        opened = self._open(LOGIN_CHALLENGE, challenge)
        id = opened.state_id(LOGIN_CHALLENGE)
        if count:
            state = self._count(STATE_KIND, id, create_until=opened.expires_at)  # None: answered
        else:
            state = self._store.find(STATE_KIND, id, even_consumed=True) or StateItem(STATE_KIND, id, {}, 0)
        if state is None or state.consumed_at is not None:
            return None
        return StateItem(LOGIN_CHALLENGE, id, opened.payload, opened.expires_at, counter=state.counter)

    def _count(self, kind: str, id: str, *, create_until: int | None = None) -> StateItem | None:
        """Count one attempt on the item (one atomic write): the item as it was, or None if nothing was counted
        (absent, expired or answered)."""
        now = int(clock.now())
        before = self._store.increment(kind, id, at=now, create_until=create_until)
        return before if before is not None and before.usable(now) else None

    def _login_request(self, challenge: str, item: StateItem | None) -> LoginRequest:
        """What the login app sees of the challenge ``item`` (as it was before this attempt, if counted)."""
        if item is None:
            raise NotFound(f"unknown, used or expired {LOGIN_CHALLENGE}")
        if item.counter >= self._login_attempts:
            raise TooManyAttempts(LOGIN_VOID)
        interaction = from_plain(Interaction, item.payload)
        client = self._client(interaction).metadata()
        return LoginRequest.of(challenge, interaction, client, self._app_view(interaction.request))

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
        A refused answer leaves the challenge open, so the app can correct it:
        what the answer says on its own is checked before the challenge is taken.
        """
        check_subject(subject)
        check_remember_for(remember_for)
        # Consume first and check the answer against what it held: no extra read
        # on the way that succeeds; a refusal puts the challenge back as it was.
        taken = self._take_challenge(LOGIN_CHALLENGE, challenge)
        try:
            accepted = taken.read(Interaction).accept_login(
                subject=subject,
                now=int(clock.now()),
                auth_time=auth_time,
                remember=remember,
                remember_for=remember_for,
                acr=acr,
                amr=amr,
                persistent=persistent,
            )
        except InvalidRequest:
            self._put_back(taken)
            raise
        return self._back_to_authorize("login_verifier", self._answer(taken, LOGIN_VERIFIER, accepted))

    def refuse_client_subject(self, subject: str) -> None:
        """A login app may not sign a person in as a registered client (RFC 9700 §4.15).

        A client_credentials token names its client in ``sub``: a person with
        the same ``sub`` would be indistinguishable from that client to an API.
        One read of the client registry (cached), only for login apps' answers,
        after the subject's syntax is checked (nothing unbounded reaches DynamoDB).
        """
        check_subject(subject)
        if self._clients.find(subject) is not None:
            raise InvalidRequest("subject must not be a registered client_id")

    def reject_login(self, challenge: str, *, error: str = "access_denied", error_description: str = "") -> str:
        rejection = Rejection(error, error_description)
        taken = self._take_challenge(LOGIN_CHALLENGE, challenge)
        verifier = self._answer(taken, LOGIN_VERIFIER, taken.read(Interaction).reject(rejection))
        return self._back_to_authorize("login_verifier", verifier)

    def consent_request(self, challenge: str) -> ConsentRequest:
        interaction = self._peek(CONSENT_CHALLENGE, challenge, Interaction)
        client = self._client(interaction).metadata()
        return ConsentRequest.of(challenge, interaction, client, self._app_view(interaction.request))

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
        """Consent accepted: the answer is checked on its own before the challenge is taken."""
        consent = Consent(
            grant_scope=tuple(grant_scope),
            grant_access_token_audience=tuple(grant_access_token_audience),
            remember=remember,
            remember_for=remember_for,
            access_token_claims=dict(access_token_claims or {}),
            id_token_claims=dict(id_token_claims or {}),
        )
        check_consent(consent)
        accepted = self._take(CONSENT_CHALLENGE, challenge).accept_consent(consent)
        return self._back_to_authorize("consent_verifier", self._put(CONSENT_VERIFIER, accepted))

    def reject_consent(self, challenge: str, *, error: str = "access_denied", error_description: str = "") -> str:
        rejection = Rejection(error, error_description)
        verifier = self._put(CONSENT_VERIFIER, self._take(CONSENT_CHALLENGE, challenge).reject(rejection))
        return self._back_to_authorize("consent_verifier", verifier)

    # -- the device flow's first step (RFC 8628 §3.3): which device is this? -------------

    def request_device(self, csrf_cookie: str, user_code: str = "", *, sealed: bool = False) -> str:
        """A ``device_challenge`` for the device app; ``user_code`` pre-fills its form (never auto-submits).

        ``sealed``: for Tollgate's own device page, nothing is stored until a code is accepted.
        """
        started = DeviceChallenge(csrf_hash=digest(csrf_cookie), user_code=user_code)
        value = self._sealed.seal(DEVICE_CHALLENGE, to_plain(started)) if sealed else None
        return value or self._put(DEVICE_CHALLENGE, started)

    def device_request(self, challenge: str) -> dict[str, Any]:
        started = self._peek(DEVICE_CHALLENGE, challenge, DeviceChallenge)
        return {"challenge": challenge, "user_code": started.user_code, "request_url": ""}

    def accept_device(self, challenge: str, *, user_code: str) -> str:
        """The person typed ``user_code``: bind that device to this browser's flow.

        The attempt is counted against the challenge first (``TooManyAttempts``
        past ``device.CHALLENGE_LIMIT``), then one ``InvalidRequest`` answers a
        code that is malformed, unknown, expired or already answered and a
        challenge that is unknown, used or expired alike: no oracle for either.
        After a wrong code the challenge stays usable for another try.
        """
        key = digest(f"challenge:{challenge}")  # never the page's per-address key, whatever is sent
        now = int(clock.now())
        counter = device.PER_CHALLENGE
        if not counter.allows(counter.count(self._store, key, now)):
            raise TooManyAttempts("too many wrong codes for this device_challenge; start again")
        code = device.normalize(user_code)
        record = self._store.find_by_user_code(code) if code else None
        request = read(DeviceCode, record) if record else None
        if record is None or request is None or not request.pending:
            raise InvalidRequest(WRONG_USER_CODE)
        try:
            started = self._take_challenge(DEVICE_CHALLENGE, challenge)
        except NotFound:
            raise InvalidRequest(WRONG_USER_CODE) from None
        interaction = started.read(DeviceChallenge).accept(
            device_code_id=record.id,
            client_id=request.client_id,
            scope=request.scope,
            audience=request.audience,
            redirect_uri=f"{self._issuer}{paths.DEVICE_VERIFICATION}",
            now=int(clock.now()),
        )
        try:
            verifier = self._answer(started, DEVICE_VERIFIER, interaction)
        except NotFound:  # a sealed challenge answered before: like a used one
            raise InvalidRequest(WRONG_USER_CODE) from None
        return self._back_to(paths.DEVICE_VERIFICATION, "device_verifier", verifier)

    def reject_device(self, challenge: str) -> str:
        self._take_challenge(DEVICE_CHALLENGE, challenge)  # a sealed one is only checked: it was never stored
        return f"{self._issuer}{paths.DEVICE_VERIFICATION}?{urlencode({'error': 'access_denied'})}"

    def redeem_device_verifier(self, verifier: str) -> Interaction:
        return self._take(DEVICE_VERIFIER, verifier)
