"""Scopes and the claims they release (OpenID Connect Core §5.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCOPES_SUPPORTED = ("openid", "profile", "email", "offline_access")
SCOPE_CLAIMS = {
    "profile": ("preferred_username", "name"),
    "email": ("email", "email_verified"),
}
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "acr", "azp")
CLAIMS_SUPPORTED = tuple(dict.fromkeys(ID_TOKEN_CLAIMS + tuple(c for cs in SCOPE_CLAIMS.values() for c in cs)))

# Claims only Tollgate sets: a consent app's ``session.id_token`` / ``session.access_token``
# may not name them (RFC 7519 §4.1 registered claims; OIDC Core §2 and §5.1; RFC 9068 §2.2;
# RFC 7800 ``cnf``; RFC 8693 ``act``/``may_act``; ``grant_id`` ties a token to its grant).
# A forged ``sub``, ``aud`` or ``scope`` would make a resource server trust the wrong person
# or permission, and a forged ``email_verified`` lets a relying party link accounts by email.
RESERVED_CLAIMS = frozenset(
    {
        "iss", "sub", "aud", "exp", "iat", "nbf", "jti",
        "auth_time", "acr", "amr", "azp", "nonce", "at_hash", "c_hash", "s_hash", "sid",
        "cnf", "client_id", "scope", "grant_id", "act", "may_act",
        "email_verified", "phone_number_verified",
    }
)  # fmt: skip


def reserved_in(claims: Mapping[str, Any]) -> list[str]:
    """The names in ``claims`` that only Tollgate may set."""
    return sorted(name for name in claims if name in RESERVED_CLAIMS)


def public_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """``claims`` without the reserved ones: consents stored before the rule are filtered when issued."""
    return {name: value for name, value in claims.items() if name not in RESERVED_CLAIMS}
