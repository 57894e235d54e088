"""The encoders built once write what ``json.dumps`` writes: tokens and responses keep their exact bytes."""

from __future__ import annotations

import json

import pytest

from chalicelib.tokens import json_text

VALUES = [
    {"iss": "https://issuer.example", "aud": ["a", "b"], "exp": 1, "scope": "x y", "nested": {"k": [1, 2.5, None]}},
    {"name": 'Zoë ✓ \u2028 \ud83d\ude00 "quoted" \\ </script>', "t": True, "f": False},
    {"big": 2**70, "neg": -1, "float": 1e300, "nan": float("nan"), "inf": float("-inf")},
    [],
    {},
    "text",
]


@pytest.mark.parametrize("value", VALUES)
def test_compact_and_spaced_text_is_json_dumps_text(value):
    assert json_text.compact(value) == json.dumps(value, separators=(",", ":"))
    assert json_text.spaced(value) == json.dumps(value)


def test_a_value_json_cannot_write_is_a_type_error_as_with_json_dumps():
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_text.compact({"when": object()})
