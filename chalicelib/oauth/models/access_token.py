"""An opaque access token's record (RFC 6749 §1.4), stored under the token's hash.

Its payload is the token's claim set as issued (RFC 9068's names, plus the
claims a consent added), which introspection and userinfo answer from; the
model names what the server itself reads of it: whose client it was issued to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class AccessTokenRecord:
    KIND: ClassVar[str] = "access_token"

    client_id: str  # the claim every record carries (RFC 9068 §2.2)
