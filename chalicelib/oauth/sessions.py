"""Browser login sessions and remembered consent (DESIGN §4), on the storage port.

A login session is an opaque cookie value whose hash keys a ``session`` item;
it lets a second authorization skip the login page.  Its public ``sid``
(OIDC Front-/Back-Channel Logout's session id) goes into ID tokens, never
the cookie value.  Remembered consent is keyed by subject and client; it
skips the consent page only when it covers every scope and audience asked for.

Both carry the person's ``subject`` (the state table's sparse subject index),
so an administrator can end every session and list or forget consents of one
person.  A session signed in up to a person's sign-out second is refused
(the ``signed_out`` marker: one more GetItem on session use).

A session ends at the first of two times (OWASP Session Management Cheat
Sheet, "Session Expiration"): its absolute end (``remember_for``, else
``SESSION_TTL``, after the sign-in), kept in the payload, and its idle end
(``SESSION_IDLE_TTL`` after its last use), kept as the item's own expiry so
every read and DynamoDB's TTL enforce it.  A use moves the idle end only when
that gains at least a tenth of the idle time: a busy session writes once per
``SESSION_IDLE_TTL / 10``, not on every request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.oauth.access_tokens import SIGNED_OUT_KIND, signed_out_since
from chalicelib.oauth.flows import Authentication, Consent
from chalicelib.oauth.ports import StateItem, StateStore
from chalicelib.tokens.hashing import digest

SESSION_KIND = "session"
CONSENT_KIND = "consent"
SESSION_COOKIE = "tollgate_session"


@dataclass(frozen=True)
class BrowserSession:
    subject: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    sid: str
    expires_at: int


class Sessions:
    def __init__(self, store: StateStore, *, default_ttl: int, idle_ttl: int, consent_ttl: int) -> None:
        self._store = store
        self._default_ttl = default_ttl
        self._idle_ttl = idle_ttl
        self._consent_ttl = consent_ttl

    def lifetime(self, authentication: Authentication) -> int:
        """The absolute lifetime of a session this sign-in starts, seconds (a persistent cookie's Max-Age)."""
        return authentication.remember_for or self._default_ttl

    def start(self, authentication: Authentication) -> tuple[str, BrowserSession]:
        """A new session: the cookie value (shown once) and what it stands for."""
        value = secrets.token_urlsafe(32)
        now = int(clock.now())
        session = BrowserSession(
            subject=authentication.subject,
            auth_time=authentication.auth_time,
            acr=authentication.acr,
            amr=authentication.amr,
            sid=secrets.token_urlsafe(16),
            expires_at=now + self.lifetime(authentication),
        )
        payload: dict[str, Any] = {**session.__dict__, "amr": list(session.amr)}
        idle_end = min(session.expires_at, now + self._idle_ttl)
        self._store.upsert(StateItem(SESSION_KIND, digest(value), payload, idle_end, subject=session.subject))
        return value, session

    def find(self, cookie_value: str | None) -> BrowserSession | None:
        """The live session, unless idle too long or its person was signed out (or disabled) since signing in."""
        item = self._store.find(SESSION_KIND, digest(cookie_value)) if cookie_value else None
        if item is None:
            return None
        session = BrowserSession(**{**item.payload, "amr": tuple(item.payload.get("amr", ()))})
        if signed_out_since(self._store.find(SIGNED_OUT_KIND, session.subject), session.auth_time):
            return None
        return session if self._used(item, session) else None

    def _used(self, item: StateItem, session: BrowserSession) -> bool:
        """Stamp this use: the idle end moves to now + ``SESSION_IDLE_TTL`` (never past the absolute end).

        Written only when it moves by a tenth of the idle time or more (also
        backwards, for a session stored before a shorter idle time); a
        conditional write, so a session ended meanwhile stays ended (False).
        """
        idle_end = min(session.expires_at, int(clock.now()) + self._idle_ttl)
        if abs(idle_end - item.expires_at) < max(1, self._idle_ttl // 10):
            return True
        return self._store.set_expiry(SESSION_KIND, item.id, idle_end)

    def end(self, cookie_value: str | None) -> None:
        if cookie_value:
            self._store.destroy(SESSION_KIND, digest(cookie_value))

    def remember_consent(self, subject: str, client_id: str, consent: Consent) -> None:
        payload = {
            "client_id": client_id,
            "grant_scope": list(consent.grant_scope),
            "grant_access_token_audience": list(consent.grant_access_token_audience),
            "access_token_claims": dict(consent.access_token_claims),
            "id_token_claims": dict(consent.id_token_claims),
        }
        expires_at = int(clock.now()) + (consent.remember_for or self._consent_ttl)
        self._store.upsert(
            StateItem(CONSENT_KIND, _consent_id(subject, client_id), payload, expires_at, subject=subject)
        )

    def remembered_consent(
        self, subject: str, client_id: str, scope: tuple[str, ...], audience: tuple[str, ...]
    ) -> Consent | None:
        item = self._store.find(CONSENT_KIND, _consent_id(subject, client_id))
        if item is None:
            return None
        granted = item.payload
        covered = set(scope) <= set(granted["grant_scope"])
        if not covered or not set(audience) <= set(granted["grant_access_token_audience"]):
            return None
        return Consent(
            grant_scope=scope,
            grant_access_token_audience=audience,
            access_token_claims=granted["access_token_claims"],
            id_token_claims=granted["id_token_claims"],
        )


def _consent_id(subject: str, client_id: str) -> str:
    return digest(f"{subject}\x00{client_id}")
