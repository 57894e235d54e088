"""Authorization server metadata: RFC 8414 and OpenID Connect Discovery 1.0 §3.

Built from the issuer and from what is actually wired: the grant types come
from the grant registry, so the document never advertises what does not work.
"""

from __future__ import annotations

from typing import Any

from chalicelib.oauth import cors, paths
from chalicelib.oauth.clients import AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from chalicelib.oauth.endpoints.authorization import PROMPTS
from chalicelib.oauth.grants import supported_grant_types
from chalicelib.oauth.http import Response, json_response
from chalicelib.oauth.oidc.claims import CLAIMS_SUPPORTED, SCOPES_SUPPORTED
from chalicelib.tokens.jws import SIGNING_ALGORITHMS

CLIENT_AUTH_METHODS = list(AUTH_METHODS)
SIGNING_ALGS = list(SIGNING_ALGORITHMS)


def metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}{paths.AUTHORIZATION}",
        "token_endpoint": f"{issuer}{paths.TOKEN}",
        "userinfo_endpoint": f"{issuer}{paths.USERINFO}",
        "end_session_endpoint": f"{issuer}{paths.LOGOUT}",
        "jwks_uri": f"{issuer}{paths.JWKS}",
        "introspection_endpoint": f"{issuer}{paths.INTROSPECTION}",
        "revocation_endpoint": f"{issuer}{paths.REVOCATION}",
        "device_authorization_endpoint": f"{issuer}{paths.DEVICE_AUTHORIZATION}",
        "grant_types_supported": supported_grant_types(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claim_types_supported": ["normal"],
        "id_token_signing_alg_values_supported": SIGNING_ALGS,
        "access_token_signing_alg_values_supported": SIGNING_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": sorted(PROMPTS),
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


class DiscoveryEndpoint:
    def __init__(self, issuer: str) -> None:
        # Built once per container: it only changes with a deploy.
        self._response = cors.public(json_response(metadata(issuer), headers={"Cache-Control": "public, max-age=3600"}))

    def handle(self) -> Response:
        return self._response
