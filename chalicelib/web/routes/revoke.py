"""POST /oauth2/revoke (RFC 7009)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond

bp = Blueprint(__name__)


@bp.route("/oauth2/revoke", methods=["POST"], content_types=ANY_CONTENT_TYPE)
def revoke():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, services.revocation_endpoint().handle)
