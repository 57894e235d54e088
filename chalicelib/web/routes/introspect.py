"""POST /oauth2/introspect (RFC 7662)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.oauth import paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)


@bp.route(paths.INTROSPECTION, methods=["POST"], content_types=ANY_CONTENT_TYPE)
def introspect():  # type: ignore[no-untyped-def]
    with services.secrets_read_ahead():  # joins the secret reads a cold container's client lookup started
        return respond(bp.current_request, services.introspection_endpoint().handle)
