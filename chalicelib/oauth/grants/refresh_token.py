"""Refresh token grant, RFC 6749 §6, with rotation and reuse detection (RFC 9700 §4.14.2).

Every use consumes the presented token in one conditional write and issues a
new one; presenting an already-rotated token is taken as theft and revokes
the whole grant.  The scope may narrow (§6) but the new refresh token keeps
the original grant's scope.

A refresh token is usable ``REFRESH_MIN_INTERVAL`` seconds after it was
issued, not before, so a grant refreshes (and signs) at most once per
interval: a KMS-mode stage's signing quota is shared by the whole account.
The early attempt is refused with ``invalid_grant`` (RFC 6749 §5.2: the
grant presented is not valid *now*; ``slow_down`` is RFC 8628's device
polling code, which refresh clients do not know), the token untouched.
A repeat of a token's use within that interval is the client's own
parallel request, not theft: refused without revoking what the first use
issued (as Hydra's rotation grace period).

The client is re-checked on every refresh: it must still exist and be
registered for ``refresh_token`` (client authentication and the token
endpoint; a container caches a client for CLIENT_CACHE_SECONDS), and a scope
it is no longer registered for leaves the grant for good: the grant narrows
silently, as §6 lets a refresh issue a narrower scope and §5.1 has the
response's ``scope`` say so.  Asking for a scope it lost is ``invalid_scope``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth.clients import Client
from chalicelib.oauth.events import USER_SUBJECT
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.redemption import redeem_once, respond_for
from chalicelib.oauth.models.refresh_token import RefreshToken
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.request import Params
from chalicelib.oauth.scopes import resolve_scope
from chalicelib.tokens import opaque


class RefreshTokenGrant:
    grant_type = "refresh_token"
    subject_kind = USER_SUBJECT  # whom its tokens are about, for the request's outcome

    def __init__(self, deps: GrantDependencies) -> None:
        self._deps = deps

    def exchange(self, client: Client, params: Params) -> dict[str, Any]:
        item = redeem_once(
            self._deps,
            RefreshToken.KIND,
            params.require("refresh_token"),
            "refresh token",
            prefix=opaque.REFRESH_TOKEN,
            grace=self._deps.issuer.refresh_min_interval,
        )
        grant = read(RefreshToken, item).rotate(client.client_id, frozenset(client.scopes))
        scope = resolve_scope(params.get("scope"), frozenset(grant.scope), grant.scope)
        return respond_for(self._deps, item, client, grant, scope=scope, nonce=None)
