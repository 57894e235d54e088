"""The pepper keying client-secret hashes, read from Secrets Manager once per container.

The pepper never changes after the first start (changing it would invalidate
every client secret), so it is cached for the container's life.
"""

from __future__ import annotations

import secrets
import threading

from chalicelib import aws

PEPPER_BYTES = 32


class SecretsManagerPepper:
    def __init__(self, secret_id: str) -> None:
        self._secret_id = secret_id
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def pepper(self) -> bytes:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    answer = aws.client("secretsmanager").get_secret_value(SecretId=self._secret_id)
                    self._value = answer["SecretString"].encode()
        return self._value


def new_pepper() -> str:
    """A fresh pepper as stored in the secret (CloudFormation generates its own)."""
    return secrets.token_urlsafe(PEPPER_BYTES)
