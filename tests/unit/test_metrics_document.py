"""One count's EMF document, built directly, is the document the aggregation builds for it: same keys, same order."""

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
def test_one_count_is_written_as_the_aggregation_would_write_it(count, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STAGE", "prod")
    monkeypatch.setattr(metrics.time, "time", lambda: 1_700_000_000.123)
    with metrics.one_document():
        metrics.emit_metric(count[0], **count[1])
    (line,) = capsys.readouterr().out.splitlines()
    expected = metrics._aggregated([count], metrics.NAMESPACE, "prod", 1_700_000_000_123)
    assert line == json.dumps(expected[0], separators=(",", ":"))
    assert json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": count[0], "Unit": "Count"}]
