"""RFC 8628: POST /oauth2/device/auth (with its CORS preflight) and GET/POST /oauth2/device/verify (the page)."""

from chalice import Blueprint

from chalicelib import services
from chalicelib.oauth import cors, paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond
from chalicelib.web.ui import device

bp = Blueprint(__name__)


@bp.route(paths.DEVICE_AUTHORIZATION, methods=["POST"], content_types=ANY_CONTENT_TYPE)
def device_authorization():  # type: ignore[no-untyped-def]
    with services.secrets_read_ahead():  # joins the secret reads a cold container's client lookup started
        return respond(bp.current_request, services.device_authorization_endpoint().handle)


@bp.route(paths.DEVICE_AUTHORIZATION, methods=["OPTIONS"], content_types=ANY_CONTENT_TYPE)
def device_authorization_preflight():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, cors.preflight(["POST"]))


@bp.route(paths.DEVICE_VERIFICATION, methods=["GET"], content_types=ANY_CONTENT_TYPE)
def verify_page():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, device.show, page=True)


@bp.route(paths.DEVICE_VERIFICATION, methods=["POST"], content_types=ANY_CONTENT_TYPE)
def verify_code():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, device.submit, page=True)
