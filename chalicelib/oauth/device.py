"""Device authorization grant, RFC 8628: user codes and the limits on entering them.

User codes are 8 characters from ``BCDFGHJKLMNPQRSTVWXZ`` — 20 consonants,
no vowels (no words), no look-alike digits — shown as ``XXXX-XXXX``:
20^8 ≈ 2.6 × 10^10, about 34.5 bits (RFC 8628 §6.1 suggests at least 20
bits with rate limiting; §5.1).  A code lives 10 minutes.

Every attempt to enter a code is counted before the code is looked up, one
atomic write per counter: ``CHALLENGE_LIMIT`` (5) per device challenge, on
the verification page and through the headless ``device.accept`` alike, and
``SOURCE_LIMIT`` (20) per source address in any ``WINDOW`` (15 minutes) on the
page.  A wrong code and an unknown, used or expired challenge get the same
answer, so neither tells a guesser anything.  Challenges are free to start, so
the page's bound is the address's: odds of hitting one of N live codes are
about 20·N / 2.6 × 10^10 per address per window.  The headless operation
has no address; a team's device app must limit its own callers (each new
challenge it gets costs a ``GET /oauth2/device/verify``, which the WAF (on by
default) limits per address).
"""

from __future__ import annotations

import secrets

from chalicelib.oauth.models.counter import DeviceAttempts

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
# A guard item per live user code makes codes unique among live ones (one transaction with the device code).
USER_CODE_KIND = "user_code"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# Counters of attempts to enter a code, each living WINDOW seconds from its first count.
ATTEMPTS_KIND = DeviceAttempts.KIND
WINDOW = 15 * 60
CHALLENGE_LIMIT = 5
SOURCE_LIMIT = 20
PER_SOURCE = DeviceAttempts(SOURCE_LIMIT, WINDOW)
PER_CHALLENGE = DeviceAttempts(CHALLENGE_LIMIT, WINDOW)


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def display(user_code: str) -> str:
    return f"{user_code[:4]}-{user_code[4:]}"


def normalize(text: str) -> str | None:
    """§6.1: case-insensitive, dashes and spaces ignored; None if it cannot be a code."""
    code = "".join(ch for ch in text.upper() if ch not in "- \t")
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


def shown(text: str) -> str:
    """``text`` as a form shows it (XXXX-XXXX) if it can be a user code, else "": no other text is echoed."""
    code = normalize(text)
    return display(code) if code else ""
