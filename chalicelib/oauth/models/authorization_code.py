"""An authorization code (RFC 6749 §4.1.2): what it stands for, and the checks on redeeming it (§4.1.3).

The code is consumed by its grant (one conditional write) before it is
redeemed here; a replay is the grant's to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chalicelib.oauth import pkce
from chalicelib.oauth.errors import InvalidGrant, InvalidRequest
from chalicelib.oauth.models.grant import UserGrant
from chalicelib.oauth.models.interaction import Authentication, AuthorizationRequest, Consent, Interaction


@dataclass(frozen=True)
class AuthorizationCode:
    """What a code stands for (RFC 6749 §4.1.2): the authorization the person consented to.

    Its payload keeps the shape it had as the interaction itself (its browser
    binding and start time too), so either version reads what the other wrote.
    """

    KIND: ClassVar[str] = "authorization_code"

    request: AuthorizationRequest
    authentication: Authentication
    consent: Consent
    csrf_hash: str = ""
    requested_at: int = 0

    @classmethod
    def of(cls, flow: Interaction) -> AuthorizationCode:
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
