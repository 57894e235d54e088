"""The pepper keying client-secret hashes, read from Secrets Manager once per container.

The pepper never changes after the first start (changing it would invalidate
every client secret), so it is cached for the container's life.  A read that
fails (Secrets Manager throttled or unreachable) answers 503
``temporarily_unavailable``, as an unreadable key set does, never a 500; the
next request reads again.
"""

from __future__ import annotations

import logging
import secrets
import threading

from chalicelib import aws
from chalicelib.oauth.errors import TemporarilyUnavailable

logger = logging.getLogger(__name__)

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
                    self._value = self._read()
        return self._value

    def _read(self) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = aws.client("secretsmanager").get_secret_value(SecretId=self._secret_id)
        except (ClientError, BotoCoreError) as error:
            logger.error("the pepper could not be read: %s", type(error).__name__)
            raise TemporarilyUnavailable("client credentials cannot be checked right now; try again shortly") from error
        return answer["SecretString"].encode()


def new_pepper() -> str:
    """A fresh pepper as stored in the secret (CloudFormation generates its own)."""
    return secrets.token_urlsafe(PEPPER_BYTES)
