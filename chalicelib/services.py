"""The composition root: which adapter implements each port, built on first use.

Everything here is created lazily and kept for the life of the Lambda
container, so importing the app touches no AWS service and loads no key.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.config import settings

if TYPE_CHECKING:
    from chalicelib.oauth.client_auth import ClientAuthenticator
    from chalicelib.oauth.endpoints.discovery import DiscoveryEndpoint
    from chalicelib.oauth.endpoints.introspection import IntrospectionEndpoint
    from chalicelib.oauth.endpoints.jwks import JwksEndpoint
    from chalicelib.oauth.endpoints.revocation import RevocationEndpoint
    from chalicelib.oauth.endpoints.token import TokenEndpoint
    from chalicelib.oauth.ports import ClientRepository, KeyProvider, Pepper, StateStore
    from chalicelib.tokens.access import AccessTokens


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


@lru_cache(maxsize=1)
def access_tokens() -> AccessTokens:
    from chalicelib.tokens.access import AccessTokens

    config = settings()
    return AccessTokens(
        key_provider(),
        state_store(),
        issuer=config.issuer_url,
        alg=config.access_token_signing_alg,
        ttl=config.access_token_ttl,
    )


@lru_cache(maxsize=1)
def authenticator() -> ClientAuthenticator:
    from chalicelib.oauth.client_auth import ClientAuthenticator

    return ClientAuthenticator(client_repository(), pepper())


@lru_cache(maxsize=1)
def token_endpoint() -> TokenEndpoint:
    from chalicelib.oauth import grants
    from chalicelib.oauth.endpoints.token import TokenEndpoint

    deps = grants.GrantDependencies(access_tokens=access_tokens(), store=state_store())
    return TokenEndpoint(authenticator(), grants.registry(deps))


@lru_cache(maxsize=1)
def introspection_endpoint() -> IntrospectionEndpoint:
    from chalicelib.oauth.endpoints.introspection import IntrospectionEndpoint

    return IntrospectionEndpoint(authenticator(), access_tokens())


@lru_cache(maxsize=1)
def revocation_endpoint() -> RevocationEndpoint:
    from chalicelib.oauth.endpoints.revocation import RevocationEndpoint

    return RevocationEndpoint(authenticator(), access_tokens())


@lru_cache(maxsize=1)
def discovery_endpoint() -> DiscoveryEndpoint:
    from chalicelib.oauth.endpoints.discovery import DiscoveryEndpoint

    return DiscoveryEndpoint(settings().issuer_url)


@lru_cache(maxsize=1)
def jwks_endpoint() -> JwksEndpoint:
    from chalicelib.oauth.endpoints.jwks import JwksEndpoint

    return JwksEndpoint(key_provider())


_FACTORIES = (
    client_repository,
    state_store,
    key_provider,
    pepper,
    access_tokens,
    authenticator,
    token_endpoint,
    introspection_endpoint,
    revocation_endpoint,
    discovery_endpoint,
    jwks_endpoint,
    settings,
)


def reset() -> None:
    """Forget settings, clients, caches and keys (tests switch environments)."""
    from chalicelib import aws

    for factory in _FACTORIES:
        factory.cache_clear()
    aws.reset()
    # PynamoDB keeps a connection per model class: forget the classes too.
    for module_name in ("chalicelib.storage.state", "chalicelib.storage.clients", "chalicelib.storage.users"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "reset_models"):
            module.reset_models()
