"""Authorization code grant at the token endpoint: RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, OIDC Core §3.1.3.

The code is consumed by one conditional write; a second use is refused and
revokes everything the first use issued (RFC 6749 §4.1.2, RFC 9700 §4.5).
What a code stands for and the checks on redeeming it are its model's
(:mod:`chalicelib.oauth.models.authorization_code`).
"""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.oauth.clients import Client
from chalicelib.oauth.events import USER_SUBJECT
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.redemption import redeem_once, respond_for
from chalicelib.oauth.models.authorization_code import AuthorizationCode, person_grant
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.models.interaction import Interaction
from chalicelib.oauth.models.stored import read, stored
from chalicelib.tokens import opaque
from chalicelib.tokens.hashing import digest


def store_code(deps: GrantDependencies, flow: Interaction, grant_id: str, ttl: int) -> str:
    """Called by the authorization endpoint once consent is given: the code for the redirect."""
    value = opaque.new(opaque.AUTHORIZATION_CODE)
    expires_at = int(clock.now()) + ttl
    deps.store.upsert(stored(AuthorizationCode.of(flow), digest(value), expires_at, grant_id=grant_id))
    return value


def user_grant(flow: Interaction, grant_id: str, grant_ttl: int) -> UserGrant:
    """The grant a consented flow gives (a device's approval)."""
    assert flow.authentication is not None and flow.consent is not None
    expires_at = int(clock.now()) + grant_ttl
    return person_grant(flow.request.client_id, flow.authentication, flow.consent, grant_id, expires_at)


class AuthorizationCodeGrant:
    grant_type = "authorization_code"
    subject_kind = USER_SUBJECT  # whom its tokens are about, for the request's outcome

    def __init__(self, deps: GrantDependencies) -> None:
        self._deps = deps

    def exchange(self, client: Client, params: Any) -> dict[str, Any]:
        item = redeem_once(
            self._deps, AuthorizationCode.KIND, params.require("code"), "code", prefix=opaque.AUTHORIZATION_CODE
        )
        code = read(AuthorizationCode, item)
        code.redeem(client.client_id, params.get("redirect_uri"), params.get("code_verifier"))
        assert item.grant_id is not None
        grant = code.grant(item.grant_id, int(clock.now()) + self._deps.grant_ttl)
        return respond_for(self._deps, item, client, grant, scope=grant.scope, nonce=code.request.nonce)
