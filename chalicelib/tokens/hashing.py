"""The one hash that keys stored state: SHA-256 of a value, hex encoded.

Every short-lived item is stored under the hash of the secret that finds it
(opaque tokens and codes, challenges, session cookies), never the secret
itself (DESIGN §6, OWASP ASVS V3.5).  Those values carry 256 random bits,
so an unkeyed hash is enough to make the stored form useless to whoever
reads the table; keys built from guessable data (a ``sub`` and a client id)
use it only to get a fixed-length key, not to hide anything.
"""

from __future__ import annotations

import hashlib


def digest(value: str) -> str:
    """The hex SHA-256 of ``value``: the stored key of whatever ``value`` finds."""
    return hashlib.sha256(value.encode()).hexdigest()
