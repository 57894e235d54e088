"""One count is one EMF document: namespace, Stage and its own dimensions, unit Count, the value as a list."""

from __future__ import annotations

import json

import pytest

from chalicelib import metrics
from chalicelib.config import container_setting


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
    container_setting.cache_clear()
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


def test_a_document_written_again_carries_its_own_time_and_stage(monkeypatch, capsys) -> None:
    """The text of a set of counts is built once per container; each write still has its moment and stage."""
    written = []
    for stage, now in (("prod", 1_700_000_000.0), ("prod", 1_700_000_001.5), ("dev", 1_700_000_002.0)):
        monkeypatch.setenv("STAGE", stage)
        container_setting.cache_clear()  # a new container of another stage
        monkeypatch.setattr(metrics.time, "time", lambda now=now: now)
        with metrics.one_document():
            metrics.emit_metric("Failures", Error="invalid_client")
            metrics.emit_metric("Failures", Error="invalid_grant")  # one dimension, two values: two documents
        written.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    for documents, (stage, millis) in zip(
        written, (("prod", 1_700_000_000_000), ("prod", 1_700_000_001_500), ("dev", 1_700_000_002_000)), strict=True
    ):
        assert [(d["_aws"]["Timestamp"], d["Stage"], d["Error"]) for d in documents] == [
            (millis, stage, "invalid_client"),
            (millis, stage, "invalid_grant"),
        ]
