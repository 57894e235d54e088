"""GET /.well-known/...: discovery (RFC 8414, OIDC Discovery) and the JWK set (RFC 7517)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)


@bp.route("/.well-known/openid-configuration", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def openid_configuration():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, lambda _request: services.discovery_endpoint().handle())


@bp.route("/.well-known/oauth-authorization-server", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def oauth_authorization_server():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, lambda _request: services.discovery_endpoint().handle())


@bp.route("/.well-known/jwks.json", methods=["GET"], content_types=ANY_CONTENT_TYPE)
def jwks():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, lambda _request: services.jwks_endpoint().handle())
