"""Authorization code grant at the token endpoint: RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, OIDC Core §3.1.3.

The code is consumed by one conditional write; a second use is refused and
revokes everything the first use issued (RFC 6749 §4.1.2, RFC 9700 §4.5).
What a code stands for and the checks on redeeming it are its model's,
``AuthorizationCode``: it stays beside its grant, not in ``oauth/models``,
while its parts (request, authentication, consent) live in ``flows.py``,
which imports the models package (a sibling cycle otherwise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from chalicelib.oauth import pkce
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidGrant, InvalidRequest
from chalicelib.oauth.flows import Authentication, AuthorizationRequest, Consent, Flow
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.redemption import redeem_once, respond_for
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.models.stored import read, stored
from chalicelib.tokens import opaque
from chalicelib.tokens.hashing import digest


@dataclass(frozen=True)
class AuthorizationCode:
    """What a code stands for (RFC 6749 §4.1.2): the authorization the person consented to.

    Its payload keeps the shape it had as the flow itself (the flow's browser
    binding and start time too), so either version reads what the other wrote.
    """

    KIND: ClassVar[str] = "authorization_code"

    request: AuthorizationRequest
    authentication: Authentication
    consent: Consent
    csrf_hash: str = ""
    requested_at: int = 0

    @classmethod
    def of(cls, flow: Flow) -> AuthorizationCode:
        assert flow.authentication is not None and flow.consent is not None
        return cls(flow.request, flow.authentication, flow.consent, flow.csrf_hash, flow.requested_at)

    def redeem(self, client_id: str, redirect_uri: str | None, code_verifier: str | None) -> None:
        """§4.1.3: the code is the client's, for the redirect URI it was sent to, with its PKCE verifier."""
        request = self.request
        if request.client_id != client_id:
            raise InvalidGrant("the code was issued to another client")
        if request.redirect_uri_given and redirect_uri is None:
            raise InvalidRequest("redirect_uri is required: it was in the authorization request")
        if redirect_uri is not None and redirect_uri != request.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        pkce.verify(code_verifier, request.code_challenge)

    def grant(self, grant_id: str, grant_expires_at: int) -> UserGrant:
        return person_grant(self.request.client_id, self.authentication, self.consent, grant_id, grant_expires_at)


def person_grant(
    client_id: str, authentication: Authentication, consent: Consent, grant_id: str, grant_expires_at: int
) -> UserGrant:
    """What the person allowed ``client_id`` (the consent) and how they signed in (the authentication)."""
    return UserGrant(
        client_id=client_id,
        grant_id=grant_id,
        subject=authentication.subject,
        scope=consent.grant_scope,
        audience=consent.grant_access_token_audience,
        auth_time=authentication.auth_time,
        sid=authentication.sid,
        grant_expires_at=grant_expires_at,
        acr=authentication.acr,
        amr=authentication.amr,
        access_token_claims=consent.access_token_claims,
        id_token_claims=consent.id_token_claims,
    )


def store_code(deps: GrantDependencies, flow: Flow, grant_id: str, ttl: int) -> str:
    """Called by the authorization endpoint once consent is given: the code for the redirect."""
    value = opaque.new(opaque.AUTHORIZATION_CODE)
    expires_at = int(time.time()) + ttl
    deps.store.upsert(stored(AuthorizationCode.of(flow), digest(value), expires_at, grant_id=grant_id))
    return value


def user_grant(flow: Flow, grant_id: str, grant_ttl: int) -> UserGrant:
    """The grant a consented flow gives (a device's approval)."""
    assert flow.authentication is not None and flow.consent is not None
    expires_at = int(time.time()) + grant_ttl
    return person_grant(flow.request.client_id, flow.authentication, flow.consent, grant_id, expires_at)


class AuthorizationCodeGrant:
    grant_type = "authorization_code"

    def __init__(self, deps: GrantDependencies) -> None:
        self._deps = deps

    def exchange(self, client: Client, params: Any) -> dict[str, Any]:
        item = redeem_once(
            self._deps, AuthorizationCode.KIND, params.require("code"), "code", prefix=opaque.AUTHORIZATION_CODE
        )
        code = read(AuthorizationCode, item)
        code.redeem(client.client_id, params.get("redirect_uri"), params.get("code_verifier"))
        assert item.grant_id is not None
        grant = code.grant(item.grant_id, int(time.time()) + self._deps.grant_ttl)
        return respond_for(self._deps, item, client, grant, scope=grant.scope, nonce=code.request.nonce)
