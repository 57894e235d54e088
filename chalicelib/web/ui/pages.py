"""What the default pages share: errors as pages, the client's display name, form targets."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.oauth.errors import InvalidRequest, NotFound, OAuthError
from chalicelib.oauth.http import Page, Response
from chalicelib.oauth.request import Request
from chalicelib.web.ui.render import FORM_ACTION

log = logging.getLogger("tollgate.ui")

Handler = Callable[[Request], Response | Page]

EXPIRED = "This sign-in request is unknown, was already used or has expired. Go back to the application and retry."


def shows_errors(handler: Handler) -> Handler:
    """Every refusal becomes an error page; anything unexpected is left to the adapter, which shows a page too."""

    @functools.wraps(handler)
    def page_handler(request: Request) -> Response | Page:
        try:
            return handler(request)
        except NotFound as error:
            log.info("%s: %s", request.path, error.description)
            return InvalidRequest(EXPIRED).to_page(status=404)
        except OAuthError as error:
            log.info("%s: %s %s", request.path, error.error, error.detail or error.description)
            return error.to_page()

    return page_handler


def client_context(client: Mapping[str, Any]) -> dict[str, Any]:
    """How a page names the client, and where its form may lead (the client's redirect URIs)."""
    return {
        "client_name": client.get("client_name") or client.get("client_id", ""),
        FORM_ACTION: list(client.get("redirect_uris") or ()),
    }
