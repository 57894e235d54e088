"""What both key modes share: a key set read once, kept for ``KEY_CACHE_SECONDS``, then read again.

A rotation reaches every warm container within that interval, without a
deploy; ``next`` keys are published a rotation period ahead, so no verifier
meets an unknown ``kid`` meanwhile.

A refresh that fails (Secrets Manager or KMS throttled, unreachable, or a
permission not yet propagated) keeps serving the set this container already
holds: those keys were valid a moment ago, and a token server that stops
signing because a *re-read* failed turns a blip into an outage.  The failure
is logged and counted (metric ``KeyRefreshFailed``) and retried after
``RETRY_SECONDS``, not on every request.  Only a container that never read
a set answers ``temporarily_unavailable`` (503), never a 500.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Generic, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.metrics import emit_metric
from chalicelib.oauth.errors import TemporarilyUnavailable

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5  # a failed refresh is tried again this soon, while the held set keeps serving
# What a read of the key store can fail with that says nothing about the keys already held.
REFRESH_ERRORS = (ClientError, BotoCoreError)


class PublicKeyEntry(Protocol):
    kid: str
    alg: str
    status: str
    public_jwk: dict[str, Any]

    @property
    def public_key(self) -> Any: ...


Key = TypeVar("Key", bound=PublicKeyEntry)


class CachedKeySet(Generic[Key]):
    """The ``KeyProvider`` queries over a key set that ``fetch`` reads from its store."""

    def __init__(self, *, cache_seconds: int) -> None:
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._by_kid: dict[str, Key] = {}
        self._current: dict[str, Key] = {}  # alg -> its current key, found once per load (read per token)
        self._jwks: dict[str, Any] = {"keys": []}

    def fetch(self) -> list[Key]:
        raise NotImplementedError

    def _keys(self) -> dict[str, Key]:
        if time.monotonic() - self._loaded_at > self._cache_seconds:
            with self._lock:
                if time.monotonic() - self._loaded_at > self._cache_seconds:
                    self._load()
        return self._by_kid

    def _load(self) -> None:
        try:
            keys = self.fetch()
        except REFRESH_ERRORS as error:
            self._refresh_failed(error)
            return
        # A kid seen twice (a KMS alias mid-move) is published once.
        self._by_kid = {key.kid: key for key in keys}
        current: dict[str, Key] = {}
        for key in self._by_kid.values():
            if key.status == "current":
                current.setdefault(key.alg, key)
        self._current = current
        self._jwks = {"keys": [key.public_jwk for key in self._by_kid.values()]}
        self._loaded_at = time.monotonic()

    def _refresh_failed(self, error: Exception) -> None:
        emit_metric("KeyRefreshFailed")
        if not self._by_kid:
            logger.error("signing keys could not be read: %s", type(error).__name__)
            raise TemporarilyUnavailable("the signing keys cannot be read right now; try again shortly") from error
        logger.warning("key set refresh failed (%s): serving the keys already held", type(error).__name__)
        self._loaded_at = time.monotonic() - self._cache_seconds + RETRY_SECONDS

    def forget(self) -> None:
        """Read the set again on next use (this container just changed it)."""
        self._loaded_at = float("-inf")

    def current(self, alg: str) -> Key | None:
        self._keys()
        return self._current.get(alg)

    def verification_key(self, kid: str) -> tuple[str, Any] | None:
        key = self._keys().get(kid)
        return (key.alg, key.public_key) if key else None

    def jwks(self) -> dict[str, Any]:
        self._keys()
        return self._jwks
