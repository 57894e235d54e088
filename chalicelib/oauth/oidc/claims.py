"""Scopes and the claims they release (OpenID Connect Core §5.4)."""

from __future__ import annotations

SCOPES_SUPPORTED = ("openid", "profile", "email", "offline_access")
SCOPE_CLAIMS = {
    "profile": ("preferred_username", "name"),
    "email": ("email", "email_verified"),
}
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "acr", "azp")
CLAIMS_SUPPORTED = tuple(dict.fromkeys(ID_TOKEN_CLAIMS + tuple(c for cs in SCOPE_CLAIMS.values() for c in cs)))
