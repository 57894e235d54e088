"""Authorization code grant at the token endpoint: RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, OIDC Core §3.1.3.

The code is consumed by one conditional write; a second use is refused and
revokes everything the first use issued (RFC 6749 §4.1.2, RFC 9700 §4.5).
"""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.oauth import pkce
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidGrant, InvalidRequest
from chalicelib.oauth.flows import Flow
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.issuance import UserGrant
from chalicelib.oauth.grants.redemption import redeem_once, respond_for
from chalicelib.oauth.ports import StateItem
from chalicelib.tokens import opaque
from chalicelib.tokens.hashing import digest

CODE_KIND = "authorization_code"


def store_code(deps: GrantDependencies, flow: Flow, grant_id: str, ttl: int) -> str:
    """Called by the authorization endpoint once consent is given: the code for the redirect."""
    value = opaque.new(opaque.AUTHORIZATION_CODE)
    expires_at = int(clock.now()) + ttl
    deps.store.upsert(StateItem(CODE_KIND, digest(value), flow.to_payload(), expires_at, grant_id=grant_id))
    return value


def user_grant(flow: Flow, grant_id: str, grant_ttl: int) -> UserGrant:
    authentication, consent = flow.authentication, flow.consent
    assert authentication is not None and consent is not None
    return UserGrant(
        client_id=flow.request.client_id,
        grant_id=grant_id,
        subject=authentication.subject,
        scope=consent.grant_scope,
        audience=consent.grant_access_token_audience,
        auth_time=authentication.auth_time,
        sid=authentication.sid,
        grant_expires_at=int(clock.now()) + grant_ttl,
        acr=authentication.acr,
        amr=authentication.amr,
        access_token_claims=consent.access_token_claims,
        id_token_claims=consent.id_token_claims,
    )


class AuthorizationCodeGrant:
    grant_type = "authorization_code"

    def __init__(self, deps: GrantDependencies) -> None:
        self._deps = deps

    def exchange(self, client: Client, params: Any) -> dict[str, Any]:
        item = redeem_once(self._deps, CODE_KIND, params.require("code"), "code", prefix=opaque.AUTHORIZATION_CODE)
        flow = Flow.from_payload(item.payload)
        request = flow.request
        if request.client_id != client.client_id:
            raise InvalidGrant("the code was issued to another client")
        redirect_uri = params.get("redirect_uri")
        if request.redirect_uri_given and redirect_uri is None:
            raise InvalidRequest("redirect_uri is required: it was in the authorization request")
        if redirect_uri is not None and redirect_uri != request.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        pkce.verify(params.get("code_verifier"), request.code_challenge)
        assert item.grant_id is not None
        grant = user_grant(flow, item.grant_id, self._deps.grant_ttl)
        return respond_for(self._deps, item, client, grant, scope=grant.scope, nonce=request.nonce)
