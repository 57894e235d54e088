"""PynamoDB builds its DynamoDB clients from the container's one botocore session.

PynamoDB gives each model class (and each transaction ``Connection``) a
botocore session of its own, and a new session loads the SDK's endpoint
data and the DynamoDB model again: ~60 ms the first time each table is used
in a container, the first token request included.  PynamoDB has no setting
for the session, so its module's ``get_session`` is pointed at
:func:`chalicelib.aws.session` (thread-safe client creation); each
connection keeps PynamoDB's own client configuration (timeouts, retries).
"""

from __future__ import annotations

from pynamodb.connection import base

from chalicelib import aws


def use_one_session() -> None:
    """Every PynamoDB connection created from now on builds its client from :func:`chalicelib.aws.session`."""
    base.get_session = aws.session  # type: ignore[assignment]
