"""Control over a person: sign them out everywhere, list and forget their consents.

What a person has in the state table carries their ``sub`` in the sparse
``subject`` index: login sessions, remembered consents, refresh tokens and
opaque access tokens.  Signing out writes the ``signed_out`` marker first
(:mod:`chalicelib.oauth.access_tokens`), then ends every session and revokes every
grant the index finds (RFC 7009 §2.1: revoking a refresh token revokes its
grant).  The index is read eventually consistently and cannot find a grant
that stored nothing (a JWT access token without a refresh token), so the
marker is what counts: it refuses every such token, refresh and session
from before it.  The index is the clean-up and the way to list.

Forgetting consent (``revoke_consents``) deletes the remembered decision and
revokes the grants of that client (or of every client) the index finds; JWT
access tokens of a grant without a refresh token then live until they
expire (ACCESS_TOKEN_TTL), as nothing names them.
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth.access_tokens import AccessTokens
from chalicelib.oauth.models.access_token import AccessTokenClaims
from chalicelib.oauth.models.refresh_token import RefreshToken
from chalicelib.oauth.models.remembered_consent import RememberedConsent
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.ports import StateItem, StateStore
from chalicelib.oauth.sessions import CONSENT_KIND, SESSION_KIND


class People:
    def __init__(self, store: StateStore, access_tokens: AccessTokens) -> None:
        self._store = store
        self._access_tokens = access_tokens

    def sign_out(self, subject: str) -> dict[str, Any]:
        """End every session and revoke every grant of ``subject``; what was found."""
        self._access_tokens.sign_out(subject)
        items = self._store.find_by_subject(subject)
        sessions = [item for item in items if item.kind == SESSION_KIND]
        for session in sessions:
            self._store.destroy(SESSION_KIND, session.id)
        grants = self._revoke_grants(items, client_id=None)
        return {"user_id": subject, "sessions_ended": len(sessions), "grants_revoked": grants}

    def consents(self, subject: str, client_id: str | None = None) -> list[dict[str, Any]]:
        """The remembered consents of ``subject`` (of one client), oldest expiry first."""
        found = sorted(self._consents(subject, client_id), key=lambda item: (item.expires_at, item.id))
        return [_shown(subject, item) for item in found]

    def revoke_consents(self, subject: str, client_id: str | None = None) -> dict[str, Any]:
        """Forget the consents of ``subject`` (for one client) and revoke the grants of that client (or all)."""
        consents = self._consents(subject, client_id)
        for consent in consents:
            self._store.destroy(CONSENT_KIND, consent.id)
        grants = self._revoke_grants(self._store.find_by_subject(subject), client_id=client_id)
        return {"user_id": subject, "consents_revoked": len(consents), "grants_revoked": grants}

    def _consents(self, subject: str, client_id: str | None) -> list[StateItem]:
        items = self._store.find_by_subject(subject)
        return [item for item in items if item.kind == CONSENT_KIND and _of_client(item, client_id)]

    def _revoke_grants(self, items: list[StateItem], *, client_id: str | None) -> int:
        grant_ids = {item.grant_id for item in items if item.grant_id and _of_client(item, client_id)}
        for grant_id in sorted(grant_ids):
            self._access_tokens.revoke_grant(grant_id)
        return len(grant_ids)


# What a person's grant leaves in the state table that names its client: what to forget with that client.
_ISSUED_TO = {model.KIND: model for model in (RememberedConsent, RefreshToken, AccessTokenClaims)}


def _of_client(item: StateItem, client_id: str | None) -> bool:
    model = _ISSUED_TO.get(item.kind)
    return client_id is None or (model is not None and read(model, item).client_id == client_id)


def _shown(subject: str, item: StateItem) -> dict[str, Any]:
    granted = read(RememberedConsent, item)
    return {
        "user_id": subject,
        "client_id": granted.client_id,
        "scope": " ".join(granted.grant_scope),
        "audience": list(granted.grant_access_token_audience),
        "expires_at": item.expires_at,
    }
