"""A person's grant: what they allowed a client, and how they signed in.

It is what a refresh token stores and what an approved device code holds, so
a refresh reissues exactly what the first exchange issued (OIDC Core §12.2),
narrowed at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
