"""Issuing tokens for a person's grant: shared by the code, refresh and device grants.

A ``UserGrant`` is what the person allowed plus how they signed in; it is
what a refresh token stores, so a refresh reissues exactly what the first
exchange issued (OIDC Core §12.2), narrowed at most.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidGrant, TemporarilyUnavailable
from chalicelib.oauth.grants.base import GrantDependencies, bearer_response
from chalicelib.oauth.oidc.id_token import IdTokenRequest, IdTokens
from chalicelib.oauth.ports import AlreadyConsumed, StateItem, TooEarly
from chalicelib.tokens import opaque
from chalicelib.tokens.access import AccessTokenRequest, AccessTokens

REFRESH_TOKEN_KIND = "refresh_token"


@dataclass(frozen=True)
class UserGrant:
    client_id: str
    grant_id: str
    subject: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    auth_time: int
    sid: str
    grant_expires_at: int
    acr: str = ""
    amr: tuple[str, ...] = ()
    access_token_claims: Mapping[str, Any] = field(default_factory=dict)
    id_token_claims: Mapping[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> UserGrant:
        names = cls.__dataclass_fields__
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload.items() if k in names})


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
        now = int(time.time())
        expires_at = min(now + self._refresh_idle_ttl, grant.grant_expires_at)
        record = StateItem(
            REFRESH_TOKEN_KIND,
            opaque.digest(value),
            grant.to_payload(),
            expires_at,
            grant_id=grant.grant_id,
            not_before=now + self.refresh_min_interval if self.refresh_min_interval else None,
            subject=grant.subject,
        )
        return value, record


def redeem_once(deps: GrantDependencies, kind: str, value: str, what: str, *, prefix: str, grace: int = 0) -> StateItem:
    """Consume a one-time artefact; a replay revokes everything its grant issued (RFC 9700 §4.5, §4.14.2).

    One call whatever the outcome, none for a value without the kind's prefix.
    A replay within ``grace`` seconds of the use it repeats is taken for a
    client's own concurrent request: refused, but the tokens of the first use
    stay valid.  An item not yet usable (``not_before``) is refused untouched.
    """
    if not value.startswith(prefix):
        raise InvalidGrant(f"the {what} is unknown, expired or revoked")
    try:
        return deps.store.consume(kind, opaque.digest(value))
    except KeyError:
        raise InvalidGrant(f"the {what} is unknown, expired or revoked") from None
    except TooEarly as early:
        wait = max(1, (early.item.not_before or 0) - int(time.time()))
        raise InvalidGrant(
            f"the {what} is too recent: one use per {grace} s; it stays valid: use it again in {wait} s",
            retry_after=wait,
        ) from None
    except AlreadyConsumed as replay:
        consumed_at = replay.item.consumed_at or 0
        if grace and consumed_at > time.time() - grace:
            raise InvalidGrant(f"the {what} was just used by another request; use the tokens it received") from None
        if replay.item.grant_id:
            deps.access_tokens.revoke_grant(replay.item.grant_id)
        raise InvalidGrant(f"the {what} was already used; tokens issued from it are revoked") from None


def respond_for(
    deps: GrantDependencies,
    redeemed: StateItem,
    client: Client,
    grant: UserGrant,
    *,
    scope: tuple[str, ...],
    nonce: str | None,
) -> dict[str, Any]:
    """Issue for a consumed artefact; when signing is throttled, hand the artefact back.

    A throttled signature (``kms`` mode) would otherwise burn a refresh token or
    code the client never got anything for: its retry redeems it again.
    """
    try:
        return deps.issuer.respond(client, grant, scope=scope, nonce=nonce)
    except TemporarilyUnavailable:
        if redeemed.consumed_at is not None:
            deps.store.release(redeemed.kind, redeemed.id, redeemed.consumed_at)
        raise


def live_refresh_token(access_tokens: AccessTokens, token: str) -> StateItem | None:
    """The stored record of a live, not yet rotated refresh token of an unrevoked grant."""
    if not token.startswith(opaque.REFRESH_TOKEN):
        return None
    return access_tokens.find_stored(REFRESH_TOKEN_KIND, token)
