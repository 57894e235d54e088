"""CloudWatch metrics as Embedded Metric Format lines on stdout (no API call), with Powertools.

Shared by the request middleware (``chalicelib.web.observability``) and the
few places that see what a response cannot show, such as a throttled KMS.
Powertools is imported on the first metric, never at ``import app``.
"""

from __future__ import annotations

import os

NAMESPACE = "Tollgate"


def emit_metric(name: str, **dimensions: str) -> None:
    """One count as an EMF line, with the stage and ``dimensions``."""
    from aws_lambda_powertools import single_metric
    from aws_lambda_powertools.metrics import MetricUnit

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
    stage = os.environ.get("STAGE") or "local"
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
        for key, value in {"Stage": stage, **dimensions}.items():
            metric.add_dimension(name=key, value=value)
