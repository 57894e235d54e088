"""A person's remembered consent to one client (Hydra's ``remember``), keyed by subject and client.

It skips the consent page only when it covers every scope and audience
asked for; the consent it stands in for is then exactly what was asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from chalicelib.oauth.models.interaction import Consent


@dataclass(frozen=True)
class RememberedConsent:
    KIND: ClassVar[str] = "consent"

    client_id: str
    grant_scope: tuple[str, ...]
    grant_access_token_audience: tuple[str, ...]
    access_token_claims: Mapping[str, Any] = field(default_factory=dict)
    id_token_claims: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, client_id: str, consent: Consent) -> RememberedConsent:
        return cls(
            client_id=client_id,
            grant_scope=consent.grant_scope,
            grant_access_token_audience=consent.grant_access_token_audience,
            access_token_claims=dict(consent.access_token_claims),
            id_token_claims=dict(consent.id_token_claims),
        )

    def covering(self, scope: tuple[str, ...], audience: tuple[str, ...]) -> Consent | None:
        """The consent to ``scope`` and ``audience``, if this one covers them all; None otherwise."""
        if not set(scope) <= set(self.grant_scope) or not set(audience) <= set(self.grant_access_token_audience):
            return None
        return Consent(
            grant_scope=scope,
            grant_access_token_audience=audience,
            access_token_claims=self.access_token_claims,
            id_token_claims=self.id_token_claims,
        )
