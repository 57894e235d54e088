"""Redirect URIs that a browser and the server read the same way (RFC 6749 §3.1.2, RFC 8252 §7.3 and §8.3).

A browser parses URLs by the WHATWG URL Standard (``\\`` ends an http host,
``user@`` is skipped), Python by RFC 3986.  Every variant below is one a
browser could read differently from a registered URI, or simply is not the
registered URI: none of them may ever be redirected to (through the authorization
endpoint as well: tests/http/test_redirect_uri_endpoint.py).
"""

from __future__ import annotations

import pytest

from chalicelib.oauth import redirect_uris
from chalicelib.oauth.errors import InvalidRequest

REGISTERED = ("http://127.0.0.1/callback", "http://[::1]/callback", "https://app.example.com/cb")

NEVER_REDIRECTED = [
    # backslash, raw and percent-encoded, in every position
    "http://evil.example\\@127.0.0.1:9999/callback",
    "http://evil.example%5C@127.0.0.1:9999/callback",
    "http://evil.example%5c@127.0.0.1:9999/callback",
    "http://127.0.0.1:9999\\@evil.example/callback",
    "http://127.0.0.1:9999%5C@evil.example/callback",
    "http://127.0.0.1\\.evil.example/callback",
    "http://127.0.0.1%5C.evil.example/callback",
    "http://127.0.0.1:9999\\callback",
    "http://127.0.0.1:9999/callback\\..\\evil",
    "http://127.0.0.1:9999/callback%5C..%5Cevil",
    "http://127.0.0.1:9999/callback?next=\\evil.example",
    "http://127.0.0.1:9999/callback?next=%5Cevil.example",
    "https://app.example.com\\@evil.example/cb",
    "https://app.example.com%5C@evil.example/cb",
    "https://evil.example\\@app.example.com/cb",
    "https://app.example.com\\cb",
    "https://app.example.com/cb\\",
    "https://app.example.com/cb%5C",
    # user information
    "http://user@127.0.0.1:9999/callback",
    "http://user:pass@127.0.0.1:9999/callback",
    "http://evil.example@127.0.0.1:9999/callback",
    "http://127.0.0.1@evil.example/callback",
    "http://127.0.0.1:9999@evil.example/callback",
    "https://evil.example@app.example.com/cb",
    "https://app.example.com@evil.example/cb",
    "http://[::1]@evil.example/callback",
    # look-alike hosts, other spellings of loopback, trailing dots
    "http://127.0.0.1.evil.example:9999/callback",
    "http://127.0.0.1.nip.io/callback",
    "http://localhost:9999/callback",
    "http://127.0.0.1.:9999/callback",
    "https://app.example.com./cb",
    "https://app.example.com.evil.example/cb",
    "http://127.1:9999/callback",
    "http://2130706433:9999/callback",
    "http://0x7f.0.0.1:9999/callback",
    "http://%3127.0.0.1:9999/callback",
    "http://127.0.0.2:9999/callback",
    # IPv6 forms
    "http://[0:0:0:0:0:0:0:1]:9999/callback",
    "http://[::ffff:127.0.0.1]:9999/callback",
    "http://[::1%25eth0]:9999/callback",
    "http://[::1]]:9999/callback",
    "http://::1:9999/callback",
    # path traversal and other paths
    "http://127.0.0.1:9999/callback/../evil",
    "http://127.0.0.1:9999/evil/../callback",
    "http://127.0.0.1:9999/callback%2F..%2Fevil",
    "http://127.0.0.1:9999//evil.example/callback",
    "http://127.0.0.1:9999/callback/",
    "https://app.example.com/cb/../evil",
    "https://app.example.com/cb/",
    # added query
    "http://127.0.0.1:9999/callback?next=https://evil.example",
    "https://app.example.com/cb?next=https://evil.example",
    "https://app.example.com/cb?",
    # case changes
    "HTTP://127.0.0.1:9999/callback",
    "http://127.0.0.1:9999/CALLBACK",
    "https://APP.example.com/cb",
    "https://app.example.com/CB",
    "HTTPS://app.example.com/cb",
    # https for an http registration, http for an https one
    "https://127.0.0.1:9999/callback",
    "https://[::1]:9999/callback",
    "http://app.example.com/cb",
    # ports: non-numeric, out of range, not canonical, on an exact-match URI
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:0/callback",
    "http://127.0.0.1:abc/callback",
    "http://127.0.0.1:/callback",
    "http://127.0.0.1:+80/callback",
    "http://127.0.0.1:08080/callback",
    "http://127.0.0.1:9999:80/callback",
    "https://app.example.com:443/cb",
    "https://app.example.com:8443/cb",
    # fragments, whitespace, control characters
    "http://127.0.0.1:9999/callback#x",
    "https://app.example.com/cb#",
    "http://127.0.0.1:9999/call\tback",
    "http://127.0.0.1:9999/callback\n",
    "http://127.0.0.1:9999/call\rback",
    " https://app.example.com/cb",
    "https://app.example.com/cb ",
    "https://app.example.com/c\x00b",
    # not absolute
    "//app.example.com/cb",
    "/cb",
    "https:/app.example.com/cb",
]


def _resolved(requested: str) -> str | None:
    try:
        return redirect_uris.resolve(requested, REGISTERED)
    except InvalidRequest:
        return None


@pytest.mark.parametrize("requested", NEVER_REDIRECTED)
def test_no_variant_of_a_registered_redirect_uri_is_ever_redirected_to(requested):
    assert _resolved(requested) is None


@pytest.mark.parametrize(
    ("requested", "why"),
    [
        ("http://evil.example\\@127.0.0.1:9999/callback", "backslash"),
        ("http://evil.example@127.0.0.1:9999/callback", "user information"),
        ("http://127.0.0.1:9999/callback#x", "fragment"),
        ("http://127.0.0.1:99999/callback", "port"),
        ("http://127.0.0.1:abc/callback", "port"),
        ("http://127.0.0.1:9999/call back", "whitespace"),
    ],
)
def test_a_malformed_redirect_uri_is_refused_with_the_reason(requested, why):
    with pytest.raises(InvalidRequest) as refused:
        redirect_uris.resolve(requested, REGISTERED)
    assert why in refused.value.description


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("http://127.0.0.1:9999/callback", "http://127.0.0.1:9999/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1/callback"),
        ("http://127.0.0.1:65535/callback", "http://127.0.0.1:65535/callback"),
        ("http://[::1]:51004/callback", "http://[::1]:51004/callback"),
        ("https://app.example.com/cb", "https://app.example.com/cb"),
    ],
)
def test_the_loopback_port_may_change_and_nothing_else(requested, expected):
    assert redirect_uris.resolve(requested, REGISTERED) == expected


def test_a_loopback_redirect_is_built_from_the_registered_uri_with_only_the_port_replaced():
    registered = ("http://127.0.0.1:8080/cb?app=notes",)
    resolved = redirect_uris.resolve("http://127.0.0.1:51004/cb?app=notes", registered)
    assert resolved == "http://127.0.0.1:51004/cb?app=notes"
    assert redirect_uris.resolve("http://127.0.0.1/cb?app=notes", registered) == "http://127.0.0.1/cb?app=notes"
    assert redirect_uris.resolve("http://127.0.0.1:51004/cb?app=other", registered) is None
