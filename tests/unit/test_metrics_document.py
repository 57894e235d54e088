"""One count is one EMF document: namespace, Stage and its own dimensions, unit Count, the value as a list."""

from __future__ import annotations

import json

import pytest

from chalicelib import metrics


@pytest.mark.parametrize(
    "count",
    [
        ("TokensIssued", {"GrantType": "client_credentials"}),
        ("Failures", {"Error": "invalid_client"}),
        ("KeyRotations", {}),
    ],
)
def test_one_count_is_one_emf_document(count, monkeypatch, capsys) -> None:
    name, dimensions = count
    monkeypatch.setenv("STAGE", "prod")
    monkeypatch.setattr(metrics.time, "time", lambda: 1_700_000_000.123)
    with metrics.one_document():
        metrics.emit_metric(name, **dimensions)
    (line,) = capsys.readouterr().out.splitlines()
    values = {"Stage": "prod", **dimensions}
    expected = {
        "_aws": {
            "Timestamp": 1_700_000_000_123,
            "CloudWatchMetrics": [
                {
                    "Namespace": metrics.NAMESPACE,
                    "Dimensions": [list(values)],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ],
        },
        **values,
        name: [1.0],
    }
    assert line == json.dumps(expected, separators=(",", ":"))
