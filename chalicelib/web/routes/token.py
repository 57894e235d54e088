"""POST /oauth2/token (RFC 6749 §3.2)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)


@bp.route("/oauth2/token", methods=["POST"], content_types=ANY_CONTENT_TYPE)
def token():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, services.token_endpoint().handle)
