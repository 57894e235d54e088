"""The composition root: which adapter implements each port, built on first use.

Everything here is created lazily and kept for the life of the Lambda
container, so importing the app touches no AWS service and loads no key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.config import settings

if TYPE_CHECKING:
    from chalicelib.keys.read_ahead import ReadAhead
    from chalicelib.oauth.access_tokens import AccessTokens
    from chalicelib.oauth.client_auth import ClientAuthenticator
    from chalicelib.oauth.csrf import CsrfGuard
    from chalicelib.oauth.endpoints.authorization import AuthorizationEndpoint
    from chalicelib.oauth.endpoints.device_authorization import DeviceAuthorizationEndpoint
    from chalicelib.oauth.endpoints.discovery import DiscoveryEndpoint
    from chalicelib.oauth.endpoints.introspection import IntrospectionEndpoint
    from chalicelib.oauth.endpoints.jwks import JwksEndpoint
    from chalicelib.oauth.endpoints.logout import LogoutEndpoint
    from chalicelib.oauth.endpoints.revocation import RevocationEndpoint
    from chalicelib.oauth.endpoints.token import TokenEndpoint
    from chalicelib.oauth.endpoints.userinfo import UserInfoEndpoint
    from chalicelib.oauth.errors import InvalidRequest
    from chalicelib.oauth.flows import Flows
    from chalicelib.oauth.grants.base import GrantDependencies
    from chalicelib.oauth.password_login import PasswordLogin
    from chalicelib.oauth.people import People
    from chalicelib.oauth.ports import ClientRepository, KeyProvider, Pepper, StateStore, UserRepository
    from chalicelib.oauth.sessions import Sessions


# Tests: adapters every service is built with instead of AWS's (``use_adapters``), by factory name.
_chosen: dict[str, Any] = {}
ADAPTERS: set[str] = set()  # the factories ``use_adapters`` may replace: each ``@_adapter``

_Built = TypeVar("_Built")


def _adapter(factory: Callable[[], _Built]) -> Callable[[], _Built]:
    """A port's factory whose adapter a test may choose instead (``use_adapters``)."""
    ADAPTERS.add(factory.__name__)

    @wraps(factory)
    def build() -> _Built:
        chosen: _Built | None = _chosen.get(factory.__name__)
        return chosen if chosen is not None else factory()

    return build


def use_adapters(**adapters: Any) -> None:
    """Build every service from now on on these adapters (none: AWS's again); ``reset`` keeps the choice.

    Names are this module's adapter factories: ``state_store``, ``client_repository``,
    ``users``, ``key_provider``, ``pepper``.  For tests of protocol rules
    (tests/unit/core.py): the core runs on in-memory ports, without moto.
    """
    unknown = set(adapters) - ADAPTERS
    if unknown:
        raise ValueError(f"no adapter factory named {sorted(unknown)}")
    _chosen.clear()
    _chosen.update(adapters)
    reset()


def use_state_store(store: StateStore | None) -> None:
    """Build every service from now on on ``store`` (None: DynamoDB again); ``reset`` keeps the choice.

    For tests of protocol rules: ``MemoryStateStore`` keeps the port's rules
    (tests/contract/) without a DynamoDB round trip.
    """
    use_adapters(**({"state_store": store} if store is not None else {}))


@lru_cache(maxsize=1)
@_adapter
def client_repository() -> ClientRepository:
    from chalicelib.storage.clients import DynamoClientRepository

    return DynamoClientRepository(settings().clients_table, cache_seconds=settings().client_cache_seconds)


@lru_cache(maxsize=1)
@_adapter
def users() -> UserRepository:
    from chalicelib.storage.users import DynamoUserRepository

    return DynamoUserRepository(settings().users_table)


@lru_cache(maxsize=1)
def password_login() -> PasswordLogin:
    from chalicelib.oauth.password_login import PasswordLogin

    config = settings()
    return PasswordLogin(
        users(),
        state_store(),
        pepper(),
        max_failures=config.login_max_failures,
        max_delay=config.login_lockout_seconds,
        username_ceiling=config.login_username_max_attempts,
        source_ceiling=config.login_source_max_attempts,
    )


@lru_cache(maxsize=1)
def csrf_guard() -> CsrfGuard:
    from chalicelib.oauth.csrf import CsrfGuard

    return CsrfGuard(secure=not settings().is_local)


@lru_cache(maxsize=1)
@_adapter
def state_store() -> StateStore:
    from chalicelib.storage.state import DynamoStateStore

    return DynamoStateStore(settings().state_table)


@lru_cache(maxsize=1)
@_adapter
def key_provider() -> KeyProvider:
    """``KEY_MODE``: ``secrets`` (JWK set in Secrets Manager) or ``kms`` (KMS keys sign)."""
    config = settings()
    if config.key_mode == "kms":
        from chalicelib.keys.kms_mode import KmsKeyProvider

        return KmsKeyProvider(config.kms_key_alias_prefix, cache_seconds=config.key_cache_seconds)
    if config.key_mode != "secrets":
        raise ValueError(f"KEY_MODE must be 'secrets' or 'kms', not {config.key_mode!r}")
    from chalicelib.keys.secrets_mode import SecretsManagerKeyProvider

    return SecretsManagerKeyProvider(config.keys_secret_id, cache_seconds=config.key_cache_seconds)


@lru_cache(maxsize=1)
@_adapter
def pepper() -> Pepper:
    from chalicelib.keys.pepper import SecretsManagerPepper

    return SecretsManagerPepper(settings().pepper_secret_id)


@lru_cache(maxsize=1)
def secrets_read_ahead() -> ReadAhead:
    """The pepper and key set reads a container's first client lookup starts; ``with`` it around such requests."""
    from chalicelib.keys.read_ahead import ReadAhead

    return ReadAhead(pepper().pepper, key_provider().jwks)


@lru_cache(maxsize=1)
def access_tokens() -> AccessTokens:
    from chalicelib.oauth.access_tokens import AccessTokens

    config = settings()
    return AccessTokens(
        key_provider(),
        state_store(),
        issuer=config.issuer(),
        alg=config.access_token_signing_alg,
        ttl=config.access_token_ttl,
        grant_ttl=config.refresh_token_ttl,
    )


@lru_cache(maxsize=1)
def authenticator() -> ClientAuthenticator:
    from chalicelib.keys.read_ahead import StartingReadAhead
    from chalicelib.oauth.client_auth import ClientAuthenticator

    return ClientAuthenticator(StartingReadAhead(client_repository(), secrets_read_ahead), pepper())


@lru_cache(maxsize=1)
def token_endpoint() -> TokenEndpoint:
    from chalicelib.oauth import grants
    from chalicelib.oauth.endpoints.token import TokenEndpoint

    return TokenEndpoint(authenticator(), grants.registry(grant_dependencies()))


@lru_cache(maxsize=1)
def grant_dependencies() -> GrantDependencies:
    from chalicelib.oauth.grants.base import GrantDependencies
    from chalicelib.oauth.grants.issuance import GrantIssuer
    from chalicelib.oauth.oidc.id_token import IdTokens

    config = settings()
    id_tokens = IdTokens(key_provider(), issuer=config.issuer(), ttl=config.id_token_ttl)
    issuer = GrantIssuer(
        access_tokens(),
        id_tokens,
        refresh_idle_ttl=config.refresh_token_idle_ttl,
        refresh_min_interval=config.refresh_min_interval,
    )
    return GrantDependencies(
        access_tokens=access_tokens(), store=state_store(), issuer=issuer, grant_ttl=config.refresh_token_ttl
    )


@lru_cache(maxsize=1)
def userinfo_endpoint() -> UserInfoEndpoint:
    from chalicelib.oauth.endpoints.userinfo import UserInfoEndpoint

    return UserInfoEndpoint(access_tokens(), users(), client_repository())


@lru_cache(maxsize=1)
def logout_endpoint() -> LogoutEndpoint:
    from chalicelib.oauth.endpoints.logout import LogoutEndpoint

    config = settings()
    return LogoutEndpoint(
        client_repository(),
        key_provider(),
        sessions(),
        csrf_guard(),
        issuer=config.issuer(),
        secure_cookies=not config.is_local,
    )


@lru_cache(maxsize=1)
def device_authorization_endpoint() -> DeviceAuthorizationEndpoint:
    from chalicelib.oauth.endpoints.device_authorization import DeviceAuthorizationEndpoint, DeviceSettings

    config = settings()
    device = DeviceSettings(issuer=config.issuer(), ttl=config.device_code_ttl, interval=config.device_poll_interval)
    return DeviceAuthorizationEndpoint(authenticator(), state_store(), device)


@lru_cache(maxsize=1)
def sessions() -> Sessions:
    from chalicelib.oauth.sessions import Sessions

    config = settings()
    return Sessions(
        state_store(),
        default_ttl=config.session_ttl,
        idle_ttl=config.session_idle_ttl,
        consent_ttl=config.refresh_token_ttl,
    )


@lru_cache(maxsize=1)
def people() -> People:
    from chalicelib.oauth.people import People

    return People(state_store(), access_tokens())


@lru_cache(maxsize=1)
def authorization_endpoint() -> AuthorizationEndpoint:
    from chalicelib.oauth.endpoints.authorization import AuthorizationEndpoint, AuthorizationSettings

    config = settings()
    endpoint_settings = AuthorizationSettings(
        issuer=config.issuer(),
        login_url=config.login_url,
        consent_url=config.consent_url,
        code_ttl=config.authorization_code_ttl,
        secure_cookies=not config.is_local,
    )
    return AuthorizationEndpoint(client_repository(), flows(), sessions(), grant_dependencies(), endpoint_settings)


@lru_cache(maxsize=1)
def introspection_endpoint() -> IntrospectionEndpoint:
    from chalicelib.oauth.endpoints.introspection import IntrospectionEndpoint

    return IntrospectionEndpoint(authenticator(), access_tokens(), issuer=settings().issuer())


@lru_cache(maxsize=1)
def revocation_endpoint() -> RevocationEndpoint:
    from chalicelib.oauth.endpoints.revocation import RevocationEndpoint

    return RevocationEndpoint(authenticator(), access_tokens())


@lru_cache(maxsize=1)
def discovery_endpoint() -> DiscoveryEndpoint:
    from chalicelib.oauth.endpoints.discovery import DiscoveryEndpoint

    return DiscoveryEndpoint(settings().issuer())


@lru_cache(maxsize=1)
def jwks_endpoint() -> JwksEndpoint:
    from chalicelib.oauth.endpoints.jwks import JwksEndpoint

    return JwksEndpoint(key_provider())


@lru_cache(maxsize=1)
def flows() -> Flows:
    from chalicelib.oauth.flows import Flows

    config = settings()
    return Flows(
        state_store(),
        client_repository(),
        pepper(),
        issuer=config.issuer(),
        challenge_ttl=config.challenge_ttl,
        login_attempts=config.login_challenge_max_attempts,
    )


def refused_input(error: BaseException) -> InvalidRequest | None:
    """``invalid_request`` if storage refused a value of the request (an oversized DynamoDB key), else None."""
    from chalicelib.storage.errors import oversized_key

    return oversized_key(error)


# keys.* admin operations: carried out by the rotate_keys function (the admin function may not write keys).


def rotate_keys() -> Any:
    from chalicelib.keys import rotation

    return rotation.request(rotation.ROTATE)


def list_keys() -> Any:
    from chalicelib.keys import rotation

    return rotation.request(rotation.LIST)


def revoke_key(kid: str) -> Any:
    from chalicelib.keys import rotation

    return rotation.request(rotation.REVOKE, kid)


def reset() -> None:
    """Forget settings, clients, caches and keys (tests switch environments)."""
    from chalicelib import aws
    from chalicelib.config import container_setting

    for factory in list(globals().values()):
        if callable(getattr(factory, "cache_clear", None)):
            factory.cache_clear()
    container_setting.cache_clear()
    aws.reset()
    # PynamoDB keeps a connection per model class: forget the classes too.
    for module_name in ("chalicelib.storage.state", "chalicelib.storage.clients", "chalicelib.storage.users"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "reset_models"):
            module.reset_models()
