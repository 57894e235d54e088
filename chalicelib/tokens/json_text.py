"""JSON text for tokens and token responses, from encoders built once.

``json.dumps`` with any argument builds a ``JSONEncoder`` and then, per call,
the stdlib's C encoder; a token request serialises two documents (the JWT's
claims and the token response), so building the C encoder once saves about a
third of each.  The text is byte for byte what ``json.dumps`` writes with
the same separators (ASCII only, ``NaN`` allowed); only the check for
circular references is dropped, as the documents are dicts of plain values
built by the server itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring_ascii
from typing import Any

Encode = Callable[[Any], str]


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder(item_separator: str, key_separator: str) -> Encode:
    if c_make_encoder is None:  # a Python built without the _json accelerator
        return json.JSONEncoder(separators=(item_separator, key_separator)).encode
    # The arguments JSONEncoder.iterencode passes, with no markers (no circular-reference check).
    encode = c_make_encoder(
        None, _refuse, encode_basestring_ascii, None, key_separator, item_separator, False, False, True
    )
    return lambda value: "".join(encode(value, 0))


# RFC 7515 §7.1's segments carry no whitespace; responses keep json.dumps' default separators.
compact: Encode = _encoder(",", ":")
spaced: Encode = _encoder(", ", ": ")
