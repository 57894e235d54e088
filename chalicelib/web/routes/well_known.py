"""GET /.well-known/...: discovery (RFC 8414, OIDC Discovery) and the JWK set (RFC 7517); public to any origin."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.oauth import cors, paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)
PATHS = (paths.OPENID_CONFIGURATION, paths.AUTHORIZATION_SERVER_METADATA, paths.JWKS)
PREFLIGHT = cors.preflight(["GET"], any_origin=True)


@bp.route(PATHS[0], methods=["GET"], content_types=ANY_CONTENT_TYPE)
def openid_configuration():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, lambda _request: services.discovery_endpoint().handle())


@bp.route(PATHS[1], methods=["GET"], content_types=ANY_CONTENT_TYPE)
def oauth_authorization_server():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, lambda _request: services.discovery_endpoint().handle())


@bp.route(PATHS[2], methods=["GET"], content_types=ANY_CONTENT_TYPE)
def jwks():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, lambda _request: services.jwks_endpoint().handle())


@bp.route(PATHS[0], methods=["OPTIONS"], content_types=ANY_CONTENT_TYPE)
def openid_configuration_preflight():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, PREFLIGHT)


@bp.route(PATHS[1], methods=["OPTIONS"], content_types=ANY_CONTENT_TYPE)
def oauth_authorization_server_preflight():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, PREFLIGHT)


@bp.route(PATHS[2], methods=["OPTIONS"], content_types=ANY_CONTENT_TYPE)
def jwks_preflight():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, PREFLIGHT)
