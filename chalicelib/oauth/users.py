"""The built-in user store's users: OIDC claims by scope and password hashes.

A user's ``user_id`` is the OIDC ``sub`` (OpenID Connect Core §2, §5.7): a
random identifier that never changes and never reveals the username, so a
username can be renamed without breaking the accounts of relying parties.

Passwords are hashed with scrypt (RFC 7914), the memory-hard KDF in the
standard library: no native wheel to build for Lambda (argon2-cffi would need
one), and memory-hardness makes guessing on GPUs and ASICs expensive, which a
plain salted hash or PBKDF2 does not.  Cost: N=2^15, r=8, p=3, one of OWASP's
equivalent scrypt settings (Password Storage Cheat Sheet): 32 MiB per hash
(fits a 256 MB Lambda beside Python) and about 0.2 s on one core.  The stored
string carries its parameters (``$scrypt$ln=15,r=8,p=3$salt$hash``, the PHC
string format), so the cost can be raised later: old hashes keep verifying
with the parameters they were made with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from chalicelib.oauth.errors import InvalidRequest
from chalicelib.oauth.oidc.claims import SCOPE_CLAIMS

SCHEME = "scrypt"
SALT_BYTES, HASH_BYTES = 16, 32
MAX_MEMORY = 256 * 1024 * 1024  # refuse stored parameters that would need more (a tampered row)
MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 8, 1024  # NIST SP 800-63B §3.1.1.2: at least 8, allow 64+
MAX_USERNAME_LENGTH = 128

_PHC = re.compile(r"^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ScryptCost(NamedTuple):
    log2_n: int  # CPU and memory cost: N = 2**log2_n
    r: int  # block size
    p: int  # parallelism


# New hashes use COST; raising it later leaves existing hashes verifiable (their cost is in the string).
COST = ScryptCost(log2_n=15, r=8, p=3)


class UsernameTaken(Exception):
    """``UserRepository.create`` found the username in use."""


@dataclass(frozen=True)
class User:
    user_id: str  # the OIDC `sub`: opaque and stable, never the username
    username: str
    email: str = ""
    email_verified: bool = False
    name: str = ""
    password_hash: str = field(default="", repr=False)
    disabled: bool = False  # `users disable`: the default login page refuses them

    def claims(self, scopes: Iterable[str]) -> dict[str, Any]:
        """The OIDC claims ``scopes`` grant (OIDC Core §5.4); empty values are left out."""
        values: dict[str, Any] = {
            "preferred_username": self.username,
            "name": self.name,
            "email": self.email,
            "email_verified": self.email_verified if self.email else None,
        }
        claims: dict[str, Any] = {"sub": self.user_id}
        for scope in scopes:
            for name in SCOPE_CLAIMS.get(scope, ()):
                if values[name] not in ("", None):
                    claims[name] = values[name]
        return claims

    def public(self) -> dict[str, Any]:
        """What the admin API shows: everything but the password hash."""
        return {
            "user_id": self.user_id,
            "username": self.username,
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name,
            "disabled": self.disabled,
        }


def normalize_username(username: str) -> str:
    """NFC, so the same name typed on two keyboards is one username; case is kept and significant."""
    return unicodedata.normalize("NFC", username)


def new_user(username: str, password: str, *, email: str = "", name: str = "", email_verified: bool = False) -> User:
    """A validated user with a fresh ``sub`` and the hash of ``password``."""
    username = normalize_username(username)
    _check_username(username)
    _check_password(password)
    if email and not _EMAIL.match(email):
        raise InvalidRequest("email is not an email address")
    if email_verified and not email:
        raise InvalidRequest("email_verified needs an email")
    return User(
        user_id=str(uuid.uuid4()),
        username=username,
        email=email,
        email_verified=email_verified,
        name=name.strip(),
        password_hash=hash_password(password),
    )


def possible_username(username: str) -> bool:
    """Whether some user could have this name: ``new_user`` refuses every other (too long, control characters)."""
    try:
        _check_username(normalize_username(username))
    except InvalidRequest:
        return False
    return True


def _check_username(username: str) -> None:
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise InvalidRequest(f"username must be 1 to {MAX_USERNAME_LENGTH} characters")
    if username != username.strip() or any(unicodedata.category(c).startswith("C") for c in username):
        raise InvalidRequest("username must not start or end with spaces or contain control characters")


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")


# --- password hashes ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p, maxmem=MAX_MEMORY, dklen=HASH_BYTES
    )


def hash_password(password: str, cost: ScryptCost | None = None) -> str:
    """``$scrypt$ln=..,r=..,p=..$salt$hash`` with a fresh random salt, at ``cost`` (default COST)."""
    log2_n, r, p = cost or COST
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, log2_n, r, p)
    return f"${SCHEME}$ln={log2_n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for a malformed one."""
    match = _PHC.match(stored)
    if match is None:
        return False
    log2_n, r, p = (int(group) for group in match.group(1, 2, 3))
    if 128 * r * (1 << log2_n) > MAX_MEMORY // 2:
        return False
    expected = _unb64(match.group(5))
    return hmac.compare_digest(_scrypt(password, _unb64(match.group(4)), log2_n, r, p), expected)


@cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def spend_verification_time(password: str) -> None:
    """Verify against a decoy hash: an unknown username costs as long as a wrong password."""
    verify_password(password, _decoy_hash())
