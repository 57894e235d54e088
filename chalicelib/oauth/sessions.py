"""Browser login sessions and remembered consent (DESIGN §4), on the storage port.

A login session (:class:`~chalicelib.oauth.models.session.Session`) is an
opaque cookie value whose hash keys a ``session`` item; it lets a second
authorization skip the login page.  Remembered consent
(:class:`~chalicelib.oauth.models.remembered_consent.RememberedConsent`) is
keyed by subject and client.

Both carry the person's ``subject`` (the state table's sparse subject index),
so an administrator can end every session and list or forget consents of one
person.  A session signed in up to a person's sign-out second is refused
(the ``signed_out`` marker: one more GetItem on session use).  A session's
idle end is its item's own expiry, so every read and DynamoDB's TTL enforce
it; a use moves it (one conditional write) only when the model says so.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from chalicelib import clock
from chalicelib.oauth.access_tokens import SIGNED_OUT_KIND, signed_out_since
from chalicelib.oauth.models.interaction import Authentication, Consent
from chalicelib.oauth.models.remembered_consent import RememberedConsent
from chalicelib.oauth.models.session import Session
from chalicelib.oauth.models.stored import read, stored
from chalicelib.oauth.ports import StateItem, StateStore
from chalicelib.tokens.hashing import digest

SESSION_KIND = Session.KIND
CONSENT_KIND = RememberedConsent.KIND
SESSION_COOKIE = "tollgate_session"


class Sessions:
    def __init__(self, store: StateStore, *, default_ttl: int, idle_ttl: int, consent_ttl: int) -> None:
        self._store = store
        self._default_ttl = default_ttl
        self._idle_ttl = idle_ttl
        self._consent_ttl = consent_ttl

    def lifetime(self, authentication: Authentication) -> int:
        """The absolute lifetime of a session this sign-in starts, seconds (a persistent cookie's Max-Age)."""
        return authentication.remember_for or self._default_ttl

    def start(self, authentication: Authentication) -> tuple[str, Session]:
        """A new session: the cookie value (shown once) and what it stands for."""
        value = secrets.token_urlsafe(32)
        now = int(clock.now())
        lifetime = self.lifetime(authentication)
        session = Session.start(authentication, sid=secrets.token_urlsafe(16), lifetime=lifetime, now=now)
        self._store.upsert(
            stored(session, digest(value), session.idle_end(now, self._idle_ttl), subject=session.subject)
        )
        return value, session

    def find(self, cookie_value: str | None) -> Session | None:
        """The live session, unless idle too long or its person was signed out (or disabled) since signing in."""
        item = self._store.find(SESSION_KIND, digest(cookie_value)) if cookie_value else None
        if item is None:
            return None
        session = read(Session, item)
        if signed_out_since(self._store.find(SIGNED_OUT_KIND, session.subject), session.auth_time):
            return None
        return session if self._used(item, session) else None

    def _used(self, item: StateItem, session: Session) -> bool:
        """Stamp this use, if the model says it is worth a write; a conditional write, so a session
        ended meanwhile stays ended (False)."""
        idle_end = session.used(item.expires_at, int(clock.now()), self._idle_ttl)
        return idle_end is None or self._store.swap(item, replace(item, expires_at=idle_end))

    def end(self, cookie_value: str | None) -> None:
        if cookie_value:
            self._store.destroy(SESSION_KIND, digest(cookie_value))

    def remember_consent(self, subject: str, client_id: str, consent: Consent) -> None:
        remembered = RememberedConsent.of(client_id, consent)
        expires_at = int(clock.now()) + (consent.remember_for or self._consent_ttl)
        self._store.upsert(stored(remembered, _consent_id(subject, client_id), expires_at, subject=subject))

    def remembered_consent(
        self, subject: str, client_id: str, scope: tuple[str, ...], audience: tuple[str, ...]
    ) -> Consent | None:
        item = self._store.find(CONSENT_KIND, _consent_id(subject, client_id))
        return read(RememberedConsent, item).covering(scope, audience) if item else None


def _consent_id(subject: str, client_id: str) -> str:
    return digest(f"{subject}\x00{client_id}")
