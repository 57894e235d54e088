"""Form bodies decode exactly as ``urllib.parse.parse_qs(keep_blank_values=True)`` decodes them.

The token endpoint parses a form on every request, so Tollgate has its own
parser; these cases pin it to the standard one, odd input included (RFC 6749
Appendix B; WHATWG URL's application/x-www-form-urlencoded parser).
"""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import pytest

from chalicelib.oauth.http import parse_form

BODIES = [
    "",
    "grant_type=client_credentials&scope=invoices%3Aread&resource=https%3A%2F%2Fapi.example.com",
    "a=1&a=2&b=&c",
    "&&a=1&&",
    "=",
    "=value",
    "name=",
    "a=b=c",
    "a+b=c+d&%2B=%2b",
    "scope=openid+profile%20email",
    "x=%",
    "x=%4",
    "x=%zz&y=%%41",
    "x=%C3%A9&y=%E2%82&z=%FF",
    "x=é&y=%C3é&z=é%A9",
    "x=\u2028;y=1;z",
    "a=1;b=2",
    "x=%00%0A%0d",
    "%61=%62",
]


@pytest.mark.parametrize("body", BODIES)
def test_a_body_decodes_as_parse_qs_decodes_it(body):
    assert parse_form(body) == parse_qs(body, keep_blank_values=True)


def test_random_bodies_decode_as_parse_qs_decodes_them():
    alphabet = "ab=&+%;2A0fFgé\u2028 \x00"
    rng = random.Random(13)
    for _ in range(5000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))
        assert parse_form(body) == parse_qs(body, keep_blank_values=True), body


@pytest.mark.parametrize("text", ["a+b", "%41%2B", "%E2%82%AC", "%ZZ", "%", "%e2%82", "é+%C3%A9", "x%FFy", "%3A%25"])
def test_one_field_decodes_as_unquote_plus(text):
    """Basic credentials (RFC 6749 §2.3.1) are decoded by the same rule as form bodies."""
    from urllib.parse import unquote_plus

    from chalicelib.oauth.http import form_decoded

    assert form_decoded(text) == unquote_plus(text)
