"""GET/POST /userinfo (OpenID Connect Core §5.3)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)


@bp.route("/userinfo", methods=["GET", "POST"], content_types=ANY_CONTENT_TYPE)
def userinfo():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, services.userinfo_endpoint().handle)
