"""What both key modes share: a key set read once, kept for ``KEY_CACHE_SECONDS``, then read again.

A rotation reaches every warm container within that interval, without a
deploy; ``next`` keys are published a rotation period ahead, so no verifier
meets an unknown ``kid`` meanwhile.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Generic, Protocol, TypeVar


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
        # A kid seen twice (a KMS alias mid-move) is published once.
        self._by_kid = {key.kid: key for key in self.fetch()}
        self._jwks = {"keys": [key.public_jwk for key in self._by_kid.values()]}
        self._loaded_at = time.monotonic()

    def forget(self) -> None:
        """Read the set again on next use (this container just changed it)."""
        self._loaded_at = float("-inf")

    def current(self, alg: str) -> Key | None:
        return next((k for k in self._keys().values() if k.alg == alg and k.status == "current"), None)

    def verification_key(self, kid: str) -> tuple[str, Any] | None:
        key = self._keys().get(kid)
        return (key.alg, key.public_key) if key else None

    def jwks(self) -> dict[str, Any]:
        self._keys()
        return self._jwks
