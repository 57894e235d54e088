"""Redeeming a one-time artefact (code, refresh token) at the token endpoint, and issuing for it.

Single use is one conditional write (DESIGN §7); a replay revokes the grant
(RFC 9700 §4.5, §4.14.2).  Shared by the code and refresh grants; the device
grant issues through :func:`respond_for` too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib import clock
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidGrant, TemporarilyUnavailable
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.ports import AlreadyConsumed, StateItem, TooEarly
from chalicelib.tokens.hashing import digest


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
        return deps.store.consume(kind, digest(value))
    except KeyError:
        raise InvalidGrant(f"the {what} is unknown, expired or revoked") from None
    except TooEarly as early:
        wait = max(1, (early.item.not_before or 0) - int(clock.now()))
        raise InvalidGrant(
            f"the {what} is too recent: one use per {grace} s; it stays valid: use it again in {wait} s",
            retry_after=wait,
        ) from None
    except AlreadyConsumed as replay:
        consumed_at = replay.item.consumed_at or 0
        if grace and consumed_at > clock.now() - grace:
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
            deps.store.swap(redeemed, replace(redeemed, consumed_at=None))  # only our own consume is undone
        raise
