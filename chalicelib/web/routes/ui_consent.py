"""GET/POST /ui/consent: the default consent page (DESIGN §4); logic in chalicelib/web/ui/consent.py."""

from chalice import Blueprint

from chalicelib.oauth import paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond
from chalicelib.web.ui import consent

bp = Blueprint(__name__)


@bp.route(paths.CONSENT_PAGE, methods=["GET"], content_types=ANY_CONTENT_TYPE)
def show():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, consent.show, page=True)


@bp.route(paths.CONSENT_PAGE, methods=["POST"], content_types=ANY_CONTENT_TYPE)
def submit():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, consent.submit, page=True)
