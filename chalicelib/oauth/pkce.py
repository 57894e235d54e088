"""Proof Key for Code Exchange, RFC 7636, S256 only.

``plain`` is refused: RFC 9700 §2.1.1 says to use S256, and a challenge
sent in the clear protects nothing against an attacker who reads the
authorization request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from chalicelib.oauth.errors import InvalidGrant, InvalidRequest

SUPPORTED_METHODS = ("S256",)
# §4.1: code_verifier = 43*128unreserved; §4.2: an S256 challenge is 43 base64url characters.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def check_challenge(code_challenge: str | None, method: str | None, *, required: bool) -> None:
    """Validate the authorization request's PKCE parameters (§4.3)."""
    if code_challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge")
        if required:
            raise InvalidRequest("code_challenge is required (PKCE, S256)")
        return
    # §4.3: an absent method means "plain", which Tollgate does not accept.
    if method not in SUPPORTED_METHODS:
        raise InvalidRequest("code_challenge_method must be S256")
    if not _S256_CHALLENGE.match(code_challenge):
        raise InvalidRequest("code_challenge is not a base64url SHA-256 value")


def s256(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(code_verifier: str | None, code_challenge: str | None) -> None:
    """§4.6: the verifier must hash to the challenge; either without the other is refused."""
    if code_challenge is None:
        if code_verifier is not None:
            raise InvalidGrant("code_verifier sent but no code_challenge was given at authorization")
        return
    if code_verifier is None:
        raise InvalidGrant("code_verifier is required")
    if not _VERIFIER.match(code_verifier):
        raise InvalidGrant("code_verifier is malformed")
    if not hmac.compare_digest(s256(code_verifier), code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
