"""Storage keys derived from what names a person: usernames, source addresses, emails.

Throttling counters need one key per username or per source address, and
a state-table key must not be the value itself.  A plain SHA-256 of it is
no better: there are 2^32 IPv4 addresses and usernames and emails come from
lists, so whoever reads the table (a backup, an export, a broad IAM role)
reverses every key in minutes.  HMAC-SHA-256 under the pepper (the Secrets
Manager secret that already keys client-secret hashes, never in a table)
makes the keys useless without that secret (OWASP Password Storage Cheat
Sheet, "Peppering"; GDPR art. 4(5) pseudonymisation: the key is held apart).

Each key names its purpose, so one username gives unrelated keys per use
and no counter can be made to stand for another.  The purpose and the
values are HMAC'd as one JSON array: unambiguous whatever the values hold
(newlines, quotes, NUL), and never equal to a client secret (those are
URL-safe base64, never ``[``).

The Users table keeps its username as it is: there the username is the
record itself (the user signs in with it), not a key derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from chalicelib.oauth.ports import Pepper

# One label per use, all here so no two uses can share one.
LOGIN_PAIR = "login attempts per source address and username"
LOGIN_USERNAME = "login attempts per username"
LOGIN_SOURCE = "login attempts per source address"
DEVICE_SOURCE = "device code attempts per source address"


def person_key(pepper: bytes, purpose: str, *values: str) -> str:
    """HMAC-SHA-256 (hex) of ``values`` for ``purpose`` under ``pepper``."""
    message = json.dumps(["tollgate person key", purpose, *values])  # ASCII: any str encodes, lone surrogates too
    return hmac.new(pepper, message.encode("ascii"), hashlib.sha256).hexdigest()


class PersonKeys:
    """:func:`person_key` under the deployment's pepper, read through its port (cached per container)."""

    def __init__(self, pepper: Pepper) -> None:
        self._pepper = pepper

    def __call__(self, purpose: str, *values: str) -> str:
        return person_key(self._pepper.pepper(), purpose, *values)
