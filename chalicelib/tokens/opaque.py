"""Opaque token values: a readable prefix plus 256 random bits, stored only as a hash.

The prefixes (DESIGN §6) let secret scanners recognise a leaked Tollgate
token.  The values carry 256 bits of randomness and are stored only under
:func:`chalicelib.tokens.hashing.digest`.

A token of a person's grant names the grant in the clear ahead of its random
part (``tg_rt_<grant_id>.<random>``), as a JWT carries ``grant_id`` in its
claims: whoever reads the token can then fetch the token's record and the
grant's revocation marker in one round trip.  The hash covers the whole
value, so a value naming another grant is simply unknown.
"""

from __future__ import annotations

import re
import secrets

ACCESS_TOKEN = "tg_at_"
REFRESH_TOKEN = "tg_rt_"
AUTHORIZATION_CODE = "tg_ac_"
DEVICE_CODE = "tg_dc_"
PREFIXES = (ACCESS_TOKEN, REFRESH_TOKEN, AUTHORIZATION_CODE, DEVICE_CODE)

_GRANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what ``new_grant_id`` makes, bounded: it becomes a table key


def new(prefix: str, grant_id: str | None = None) -> str:
    random = secrets.token_urlsafe(32)
    if grant_id is None:
        return prefix + random
    if not _GRANT_ID.fullmatch(grant_id):
        raise ValueError("a grant id carried in a token is URL-safe base64 of at most 64 characters")
    return f"{prefix}{grant_id}.{random}"


def grant_of(value: str) -> str | None:
    """The grant an opaque value names, or None (no grant, an older value, or not ours)."""
    prefix = next((p for p in PREFIXES if value.startswith(p)), None)
    if prefix is None:
        return None
    grant_id, dot, _ = value[len(prefix) :].rpartition(".")
    return grant_id if dot and _GRANT_ID.fullmatch(grant_id) else None
