"""GET/POST /oauth2/sessions/logout (OpenID Connect RP-Initiated Logout 1.0)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.oauth import paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)


@bp.route(paths.LOGOUT, methods=["GET", "POST"], content_types=ANY_CONTENT_TYPE)
def logout():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, services.logout_endpoint().handle, page=True)
