"""GET /oauth2/auth (RFC 6749 §4.1.1, OIDC Core §3.1.2)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.oauth import paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)


@bp.route(paths.AUTHORIZATION, methods=["GET"], content_types=ANY_CONTENT_TYPE)
def authorize():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, services.authorization_endpoint().handle, page=True)
