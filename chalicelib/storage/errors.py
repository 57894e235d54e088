"""DynamoDB refusals that are the caller's fault, told apart from failures of the service.

DynamoDB refuses a partition key over 2048 bytes and a sort key over 1024
bytes with a ``ValidationException`` (its message says "Size of hashkey has
exceeded the maximum size limit of2048 bytes", sic, or "Aggregated size of all
range keys ..."; older endpoints "Hash primary key values must be under 2048
bytes").  Tollgate builds every key of its own from a short hash or id, so
such a key came from the request: the answer is RFC 6749's
``invalid_request``, not a 500.  Every other failure stays a server error.

Duck-typed on botocore's ``ClientError.response`` so that the web layer can
import this at cold start without importing botocore.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chalicelib.oauth.errors import InvalidRequest

_KEY_TOO_LARGE = re.compile(
    r"size of hashkey has exceeded|size of all range keys has exceeded|primary key values must be under", re.I
)
VALUE_TOO_LONG = "a value in the request is too long"


def oversized_key(error: BaseException) -> InvalidRequest | None:
    """``invalid_request`` if DynamoDB refused a key as too large anywhere in ``error``'s causes, else None."""
    for cause in _causes(error):
        response = getattr(cause, "response", None)
        details = response.get("Error") if isinstance(response, dict) else None
        if not isinstance(details, dict) or details.get("Code") != "ValidationException":
            continue
        if _KEY_TOO_LARGE.search(str(details.get("Message", ""))):
            return InvalidRequest(VALUE_TOO_LONG, detail="DynamoDB refused an oversized key")
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what caused it: PynamoDB keeps botocore's ClientError in ``.cause`` and ``__cause__``."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        cause = pending.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        wrapped = getattr(cause, "cause", None)
        pending += [wrapped if isinstance(wrapped, BaseException) else None, cause.__cause__, cause.__context__]
