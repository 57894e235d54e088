"""Issuing tokens for a person's grant: shared by the code, refresh and device grants.

A ``UserGrant`` (:mod:`chalicelib.oauth.models.grant`) is what the person
allowed plus how they signed in; each refresh token issued stores it (a
``RefreshToken``).  The bearer response
(RFC 6749 §5.1) is also the client credentials grant's.  Nothing here
imports :mod:`chalicelib.oauth.grants.base`: the grants' dependencies name
the issuer, not the other way round.
"""

from __future__ import annotations

import secrets
from typing import Any

from chalicelib import clock
from chalicelib.oauth.access_tokens import AccessTokenRequest, AccessTokens, IssuedToken
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidGrant
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.models.refresh_token import RefreshToken
from chalicelib.oauth.models.stored import stored
from chalicelib.oauth.oidc.id_token import IdTokenRequest, IdTokens
from chalicelib.oauth.ports import StateItem
from chalicelib.tokens import opaque
from chalicelib.tokens.hashing import digest


def bearer_response(access_token: IssuedToken, scope: tuple[str, ...]) -> dict[str, Any]:
    """RFC 6749 §5.1 / RFC 6750 §4."""
    return {
        "access_token": access_token.value,
        "token_type": "Bearer",
        "expires_in": access_token.expires_in,
        "scope": " ".join(scope),
    }


def new_grant_id() -> str:
    return secrets.token_urlsafe(16)


class GrantIssuer:
    def __init__(
        self, access_tokens: AccessTokens, id_tokens: IdTokens, *, refresh_idle_ttl: int, refresh_min_interval: int = 0
    ) -> None:
        self._access_tokens = access_tokens
        self._id_tokens = id_tokens
        self._refresh_idle_ttl = refresh_idle_ttl
        # A refresh token may be used this long after it was issued, not before: one refresh
        # (so at most two signatures) per grant per interval, checked by the consuming write itself.
        self.refresh_min_interval = refresh_min_interval

    def respond(self, client: Client, grant: UserGrant, *, scope: tuple[str, ...], nonce: str | None) -> dict[str, Any]:
        """Access token for ``scope``; ID token with ``openid``; refresh token with ``offline_access``.

        Whatever must be stored goes in one transaction that also checks the
        grant is not revoked: a replay that revoked it while this request was
        on its way leaves nothing behind, and this request gets nothing.
        """
        access = self._access_tokens.mint(
            AccessTokenRequest(
                client,
                grant.subject,
                scope,
                grant.audience,
                grant.grant_id,
                dict(grant.access_token_claims),
                for_userinfo="openid" in scope,
            )
        )
        records = [access.record] if access.record else []
        body = bearer_response(access, scope)
        if "openid" in scope:
            body["id_token"] = self._id_tokens.issue(
                IdTokenRequest(
                    client=client,
                    subject=grant.subject,
                    auth_time=grant.auth_time,
                    sid=grant.sid,
                    nonce=nonce,
                    acr=grant.acr,
                    amr=grant.amr,
                    access_token=access.value,
                    extra_claims=grant.id_token_claims,
                )
            )
        if "offline_access" in grant.scope and "refresh_token" in client.grant_types:
            body["refresh_token"], record = self._refresh_token(grant)
            records.append(record)
        stored = self._access_tokens.store_for_grant
        if records and not stored(grant.grant_id, grant.subject, grant.auth_time, records):
            raise InvalidGrant("the grant was revoked")
        return body

    def _refresh_token(self, grant: UserGrant) -> tuple[str, StateItem]:
        value = opaque.new(opaque.REFRESH_TOKEN, grant.grant_id)
        now = int(clock.now())
        expires_at = min(now + self._refresh_idle_ttl, grant.grant_expires_at)
        record = stored(
            RefreshToken.of(grant),
            digest(value),
            expires_at,
            grant_id=grant.grant_id,
            not_before=now + self.refresh_min_interval if self.refresh_min_interval else None,
            subject=grant.subject,
        )
        return value, record


def live_refresh_token(access_tokens: AccessTokens, token: str) -> StateItem | None:
    """The stored record of a live, not yet rotated refresh token of an unrevoked grant."""
    if not token.startswith(opaque.REFRESH_TOKEN):
        return None
    return access_tokens.find_stored(RefreshToken.KIND, token)
