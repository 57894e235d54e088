"""Issue 12 item 6: every protocol error is one class in ``errors.py``, rendered one way per medium.

A reader (or the next feature) finds every error code the server can answer
in one module, and a refusal looks the same whichever endpoint made it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import chalicelib
from chalicelib.oauth import errors
from chalicelib.oauth.errors import InvalidRequest, OAuthError

ROOT = Path(chalicelib.__file__).parent


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_protocol_error_class_lives_in_errors_py() -> None:
    for module in pkgutil.walk_packages([str(ROOT / "oauth")], "chalicelib.oauth."):
        importlib.import_module(module.name)
    elsewhere = sorted(
        f"{c.__module__}.{c.__name__}" for c in _all_subclasses(OAuthError) if c.__module__ != errors.__name__
    )
    assert elsewhere == []


def test_no_module_builds_an_error_page_by_hand() -> None:
    """Only ``OAuthError.to_page`` makes the error page (it names the template once, ``ERROR_PAGE``)."""
    builders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if re.search(r'Page\(\s*"error"', path.read_text()) or re.search(r"def \w*error_page\(", path.read_text())
    ]
    assert builders == []


def test_an_error_page_carries_the_code_the_description_and_the_status() -> None:
    page = InvalidRequest("This sign-in link has expired.").to_page(status=404)
    assert (page.template, page.status) == ("error", 404)
    assert page.context == {"error": "invalid_request", "error_description": "This sign-in link has expired."}


def test_an_error_redirect_carries_the_code_the_issuer_and_the_state() -> None:
    response = InvalidRequest("bad").to_redirect("https://rp.example/cb?x=1", issuer="https://id.example", state="s")
    assert response.status == 302
    assert response.headers["Location"] == (
        "https://rp.example/cb?x=1&error=invalid_request&error_description=bad&iss=https%3A%2F%2Fid.example&state=s"
    )
