"""Pages as HTML: Jinja2 templates (autoescaped) and the headers every page carries (DESIGN §4).

The protocol core answers with :class:`~chalicelib.oauth.http.Page`
(``template`` and ``context``); :func:`render` turns it into an HTML
response.  Templates live in ``templates/``: ``base`` (layout), ``error``
(``error``, ``error_description``), ``login``, ``consent``, ``logout``
(``csrf_token``, optional ``action``, ``fields`` as hidden inputs,
``client_name``) and ``signed_out`` (optional ``return_to``, ``client_name``).

Every page is sent with ``Cache-Control: no-store``, ``X-Frame-Options: DENY``
and a Content-Security-Policy that allows nothing but its one stylesheet
(inline, allowed by its SHA-256 hash: no extra request, no ``unsafe-inline``)
and form posts to this server.  A page whose form leads, through the
authorization endpoint's redirects, to a client (login, consent, logout)
lists the client's redirect URIs under the context key ``form_action``:
Chromium applies ``form-action`` to every redirect after a form submission,
so those origins must be allowed too.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib.config import settings
from chalicelib.oauth.http import Page, Response, no_store
from chalicelib.oauth.redirect_uris import LOOPBACK_HOSTS

if TYPE_CHECKING:
    import jinja2

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STYLESHEET = HERE / "tollgate.css"
FORM_ACTION = "form_action"  # context key: URIs a form may end up at after redirects

_TEMPLATE_NAME = re.compile(r"^[a-z][a-z_]*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_HOST = re.compile(r"^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])$")


@cache
def _environment() -> jinja2.Environment:
    import jinja2  # deferred: only page requests pay for it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is HTML-escaped unless a template says otherwise
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _stylesheet() -> tuple[Any, str]:
    """The stylesheet as markup for ``<style>`` and its CSP hash source."""
    from markupsafe import Markup

    css = STYLESHEET.read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return Markup(css), f"'sha256-{digest}'"  # noqa: S704 - our own file, not user input


def csp_source(uri: str, *, any_loopback_port: bool = True) -> str | None:
    """The CSP source expression matching ``uri``'s origin; None if it cannot be expressed safely.

    An http(s) URI gives its origin; a loopback redirect URI any port (RFC 8252 §7.3);
    a private-use scheme (``com.example.app:/cb``, RFC 8252 §7.1) its scheme.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme):
        return None
    if scheme not in ("http", "https"):
        return f"{scheme}:"
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    if not host or not _HOST.match(host):
        return None
    if any_loopback_port and scheme == "http" and host in LOOPBACK_HOSTS:
        return f"http://{host}:*"
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def content_security_policy(style_source: str, form_action: Iterable[str] = ()) -> str:
    issuer = csp_source(settings().issuer_url, any_loopback_port=False)
    targets = ["'self'", *([issuer] if issuer else [])]
    for uri in form_action:
        source = csp_source(uri)
        if source and source not in targets:
            targets.append(source)
    return "; ".join(
        (
            "default-src 'none'",
            f"style-src {style_source}",
            f"form-action {' '.join(targets)}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


def page_headers(style_source: str, form_action: Iterable[str] = ()) -> dict[str, str]:
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": content_security_policy(style_source, form_action),
        "X-Frame-Options": "DENY",
        **no_store(),
    }


def _form_action(context: Mapping[str, object]) -> list[str]:
    value = context.get(FORM_ACTION) or ()
    return [str(uri) for uri in value] if isinstance(value, list | tuple) else []


def render(page: Page) -> Response:
    """The HTML response for ``page``; its own headers and cookies are kept, the security headers win."""
    if not _TEMPLATE_NAME.match(page.template):
        raise ValueError(f"not a template name: {page.template!r}")
    style, style_source = _stylesheet()
    body = _environment().get_template(f"{page.template}.html").render({**page.context, "style": style})
    headers = {**page.headers, **page_headers(style_source, _form_action(page.context))}
    return Response(page.status, body, headers, page.cookies, page.error)
