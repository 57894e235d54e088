"""What a login or consent app sees of an interaction (Hydra's OAuth2LoginRequest / OAuth2ConsentRequest).

Built from the stored :class:`~chalicelib.oauth.models.interaction.Interaction`,
never from the client's raw query: ``request_url`` is rebuilt from what was
validated, so its size is bounded by the parameters' own limits and unknown
parameters are not echoed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalicelib.oauth import paths
from chalicelib.oauth.models.interaction import Authentication, AuthorizationRequest, Interaction
from chalicelib.oauth.models.serial import to_plain


@dataclass(frozen=True)
class LoginRequest:
    """What a login app sees (Hydra's OAuth2LoginRequest)."""

    challenge: str
    client: dict[str, Any]
    requested_scope: list[str]
    requested_access_token_audience: list[str]
    skip: bool
    subject: str
    request_url: str
    oidc_context: dict[str, Any]

    @classmethod
    def of(cls, challenge: str, interaction: Interaction, client: dict[str, Any], app: AppView) -> LoginRequest:
        session = interaction.session
        shared = app.shared(challenge, interaction.request, client)
        return cls(**shared, skip=session is not None, subject=session.subject if session else "")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True)
class ConsentRequest:
    """What a consent app sees (Hydra's OAuth2ConsentRequest)."""

    challenge: str
    client: dict[str, Any]
    requested_scope: list[str]
    requested_access_token_audience: list[str]
    skip: bool  # Hydra's field, always false here: remembered consent never reaches the consent app
    subject: str
    acr: str
    amr: list[str]
    request_url: str
    oidc_context: dict[str, Any]

    @classmethod
    def of(cls, challenge: str, interaction: Interaction, client: dict[str, Any], app: AppView) -> ConsentRequest:
        signed_in = interaction.authentication or Authentication(subject="", auth_time=0)
        shared = app.shared(challenge, interaction.request, client)
        return cls(**shared, skip=False, subject=signed_in.subject, acr=signed_in.acr, amr=list(signed_in.amr))

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True)
class AppView:
    """How an app sees the client's request: on this issuer, with the login_hint opened (or None)."""

    issuer: str
    login_hint: str | None

    def shared(self, challenge: str, request: AuthorizationRequest, client: dict[str, Any]) -> dict[str, Any]:
        """The fields a login request and a consent request both have."""
        return {
            "challenge": challenge,
            "client": client,
            "requested_scope": list(request.scope),
            "requested_access_token_audience": list(request.audience),
            "request_url": self.request_url(request),
            "oidc_context": self.oidc_context(request),
        }

    def oidc_context(self, request: AuthorizationRequest) -> dict[str, Any]:
        context: dict[str, Any] = {}
        if request.acr_values:
            context["acr_values"] = list(request.acr_values)
        if self.login_hint:
            context["login_hint"] = self.login_hint
        if request.ui_locales:
            context["ui_locales"] = list(request.ui_locales)
        return context

    def request_url(self, request: AuthorizationRequest) -> str:
        """The client's authorization request (Hydra's ``request_url``), rebuilt from what was validated."""
        query: list[tuple[str, str]] = [("client_id", request.client_id), ("response_type", "code")]
        if request.redirect_uri_given:
            query.append(("redirect_uri", request.redirect_uri))
        query.append(("scope", " ".join(request.scope)))
        query += [("audience", audience) for audience in request.audience]
        optional = {
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.code_challenge,
            "code_challenge_method": request.code_challenge_method,
            "prompt": " ".join(request.prompt),
            "max_age": None if request.max_age is None else str(request.max_age),
            "acr_values": " ".join(request.acr_values),
            "login_hint": self.login_hint,
            "ui_locales": " ".join(request.ui_locales),
        }
        query += [(name, value) for name, value in optional.items() if value]
        return f"{self.issuer}{paths.AUTHORIZATION}?{urlencode(query)}"
