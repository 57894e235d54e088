"""Opaque token values: a readable prefix plus 256 random bits, stored only as a hash.

The prefixes (DESIGN §6) let secret scanners recognise a leaked Tollgate
token.  The values carry 256 bits of randomness, so an unkeyed SHA-256 is
enough to make the stored form useless to an attacker who reads the table.
"""

from __future__ import annotations

import hashlib
import secrets

ACCESS_TOKEN = "tg_at_"
REFRESH_TOKEN = "tg_rt_"
AUTHORIZATION_CODE = "tg_ac_"
DEVICE_CODE = "tg_dc_"


def new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
