"""GET/POST /ui/login: the default login page (DESIGN §4); logic in chalicelib/web/ui/login.py."""

from chalice import Blueprint

from chalicelib.oauth import paths
from chalicelib.web.adapter import ANY_CONTENT_TYPE, respond
from chalicelib.web.ui import login

bp = Blueprint(__name__)


@bp.route(paths.LOGIN_PAGE, methods=["GET"], content_types=ANY_CONTENT_TYPE)
def show():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, login.show, page=True)


@bp.route(paths.LOGIN_PAGE, methods=["POST"], content_types=ANY_CONTENT_TYPE)
def submit():  # type: ignore[no-untyped-def]
    return respond(bp.current_request, login.submit, page=True)
