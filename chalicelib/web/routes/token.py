"""POST /oauth2/token (RFC 6749 §3.2), and its CORS preflight."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.oauth import cors, paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)
METHODS = ["POST"]


@bp.route(paths.TOKEN, methods=METHODS, content_types=ANY_CONTENT_TYPE)
def token():  # type: ignore[no-untyped-def]
    with services.secrets_read_ahead():  # joins the secret reads a cold container's client lookup started
        return respond(bp.current_request, services.token_endpoint().handle)


@bp.route(paths.TOKEN, methods=["OPTIONS"], content_types=ANY_CONTENT_TYPE)
def token_preflight():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, cors.preflight(METHODS))
