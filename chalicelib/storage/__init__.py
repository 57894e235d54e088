"""DynamoDB storage on PynamoDB: the Clients, Users and state tables."""

from __future__ import annotations

import os


def region() -> str:
    """The region PynamoDB models talk to; endpoint and credentials come from the environment like boto3's."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
