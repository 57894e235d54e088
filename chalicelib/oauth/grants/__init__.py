"""The grant registry: the one place that says which grant types Tollgate speaks.

The token endpoint dispatches on ``grant_type`` through this table, so a new
grant is a new module and one line here, never a new branch elsewhere.
"""

from __future__ import annotations

from chalicelib.oauth.grants.authorization_code import AuthorizationCodeGrant
from chalicelib.oauth.grants.base import Grant, GrantDependencies
from chalicelib.oauth.grants.client_credentials import ClientCredentialsGrant
from chalicelib.oauth.grants.device_code import DeviceCodeGrant
from chalicelib.oauth.grants.refresh_token import RefreshTokenGrant

GRANT_CLASSES: tuple[type, ...] = (AuthorizationCodeGrant, ClientCredentialsGrant, DeviceCodeGrant, RefreshTokenGrant)


def registry(deps: GrantDependencies) -> dict[str, Grant]:
    return {cls.grant_type: cls(deps) for cls in GRANT_CLASSES}


def supported_grant_types() -> list[str]:
    return [cls.grant_type for cls in GRANT_CLASSES]


__all__ = ["GRANT_CLASSES", "Grant", "GrantDependencies", "registry", "supported_grant_types"]
