"""The composition root: which adapter implements each port, built on first use.

Everything here is created lazily and kept for the life of the Lambda
container, so importing the app touches no AWS service and loads no key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.config import settings

if TYPE_CHECKING:
    from chalicelib.oauth.ports import ClientRepository, KeyProvider, Pepper, StateStore


@lru_cache(maxsize=1)
def client_repository() -> ClientRepository:
    from chalicelib.storage.clients import DynamoClientRepository

    return DynamoClientRepository(settings().clients_table, cache_seconds=settings().client_cache_seconds)


@lru_cache(maxsize=1)
def state_store() -> StateStore:
    from chalicelib.storage.state import DynamoStateStore

    return DynamoStateStore(settings().state_table)


@lru_cache(maxsize=1)
def key_provider() -> KeyProvider:
    from chalicelib.keys.secrets_mode import SecretsManagerKeyProvider

    return SecretsManagerKeyProvider(settings().keys_secret_id, cache_seconds=settings().key_cache_seconds)


@lru_cache(maxsize=1)
def pepper() -> Pepper:
    from chalicelib.keys.pepper import SecretsManagerPepper

    return SecretsManagerPepper(settings().pepper_secret_id)


def reset() -> None:
    """Forget settings, clients, caches and keys (tests switch environments)."""
    from chalicelib import aws

    for factory in (client_repository, state_store, key_provider, pepper, settings):
        factory.cache_clear()
    aws.reset()
