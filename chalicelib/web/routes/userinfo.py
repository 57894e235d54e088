"""GET/POST /userinfo (OpenID Connect Core §5.3), and its CORS preflight."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.oauth import cors, paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)
METHODS = ["GET", "POST"]


@bp.route(paths.USERINFO, methods=METHODS, content_types=ANY_CONTENT_TYPE)
def userinfo():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, services.userinfo_endpoint().handle)


@bp.route(paths.USERINFO, methods=["OPTIONS"], content_types=ANY_CONTENT_TYPE)
def userinfo_preflight():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, cors.preflight(METHODS))
