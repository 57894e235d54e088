"""Settings, read once from environment variables.

Every knob Tollgate has is listed here with its default; the README's
configuration table is checked against the same names (tests/unit/test_readme.py).
Nothing here touches the network: reading settings is safe at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.oauth import paths


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@lru_cache(maxsize=8)
def container_setting(name: str, default: str) -> str:
    """Environment variable ``name`` (or ``default``), read once per container.

    Lambda fixes a function's environment when it is deployed, and an
    ``os.environ`` read costs a request about 2 µs (issue 13).  Code that
    changes one of these variables (tests) calls ``container_setting.cache_clear()``.
    """
    return os.environ.get(name) or default


@dataclass(frozen=True)
class Settings:
    stage: str
    issuer_url: str
    clients_table: str
    users_table: str
    state_table: str
    keys_secret_id: str
    pepper_secret_id: str
    key_mode: str
    access_token_signing_alg: str
    access_token_ttl: int
    client_cache_seconds: int
    key_cache_seconds: int
    kms_key_alias_prefix: str
    kms_signer_role_arn: str
    kms_rotation_role_arn: str
    key_rotation_schedule: str
    login_url: str
    consent_url: str
    device_url: str
    device_code_ttl: int
    device_poll_interval: int
    challenge_ttl: int
    authorization_code_ttl: int
    id_token_ttl: int
    refresh_token_ttl: int
    refresh_token_idle_ttl: int
    refresh_min_interval: int
    session_ttl: int
    session_idle_ttl: int
    login_max_failures: int
    login_lockout_seconds: int
    login_username_max_attempts: int
    login_source_max_attempts: int
    login_challenge_max_attempts: int

    # False when ISSUER_URL was not set and the local default stands in.
    issuer_configured: bool = True

    @property
    def is_local(self) -> bool:
        return self.stage == "local"

    def issuer(self) -> str:
        """The issuer; a deployed stage without ``ISSUER_URL`` refuses rather than name the local one in tokens."""
        if not self.is_local and not self.issuer_configured:
            raise RuntimeError(
                f"ISSUER_URL is not set for stage {self.stage!r}: refusing to issue with {self.issuer_url}"
            )
        return self.issuer_url


# (environment variable, default, what it means) — the README table mirrors this.
ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    ("STAGE", "local", "Chalice stage; `local` relaxes the Secure cookie flag only"),
    ("ISSUER_URL", "http://127.0.0.1:8000", "issuer identifier; every URL in discovery is built from it"),
    ("CLIENTS_TABLE", "tollgate-clients", "DynamoDB table of registered clients"),
    ("USERS_TABLE", "tollgate-users", "DynamoDB table of users"),
    ("STATE_TABLE", "tollgate-state", "DynamoDB table of everything that expires"),
    ("KEYS_SECRET_ID", "tollgate/signing-keys", "Secrets Manager secret holding the signing JWK set"),
    ("PEPPER_SECRET_ID", "tollgate/client-secret-pepper", "Secrets Manager secret keying client-secret hashes"),
    ("KEY_MODE", "secrets", "`secrets` (JWK set in Secrets Manager) or `kms` (asymmetric KMS keys sign)"),
    ("ACCESS_TOKEN_SIGNING_ALG", "RS256", "algorithm of JWT access tokens: RS256 or ES256"),
    ("ACCESS_TOKEN_TTL", "3600", "access token lifetime, seconds"),
    ("CLIENT_CACHE_SECONDS", "60", "how long a Lambda container trusts a cached client record"),
    ("KEY_CACHE_SECONDS", "300", "how long a Lambda container keeps the signing key set before re-reading it"),
    (
        "KMS_KEY_ALIAS_PREFIX",
        "alias/tollgate-signing",
        "`kms` mode: aliases `PREFIX-{rs256,es256}-{next,current,previous}`",
    ),
    (
        "KMS_SIGNER_ROLE_ARN",
        "",
        "`kms` mode: the API handler's role, named in each new key's policy (default: Chalice's role name)",
    ),
    (
        "KMS_ROTATION_ROLE_ARN",
        "",
        "`kms` mode: the rotate_keys role, named in each new key's policy (default: Chalice's role name)",
    ),
    (
        "KEY_ROTATION_SCHEDULE",
        "cron(0 9 1 * ? *)",
        "when the rotate_keys function runs (EventBridge cron or rate); at most one rotation per interval",
    ),
    (
        "LOGIN_URL",
        "{issuer}" + paths.LOGIN_PAGE,
        "login app, sent `?login_challenge=`; point it at your own app to go headless",
    ),
    ("CONSENT_URL", "{issuer}" + paths.CONSENT_PAGE, "consent app: receives `?consent_challenge=`"),
    (
        "DEVICE_URL",
        "{issuer}" + paths.DEVICE_VERIFICATION,
        "device app, sent `?device_challenge=`; default: Tollgate's page",
    ),
    ("DEVICE_CODE_TTL", "600", "device code and user code lifetime, seconds (RFC 8628 expires_in)"),
    ("DEVICE_POLL_INTERVAL", "5", "minimum seconds between device polls (RFC 8628 interval)"),
    ("CHALLENGE_TTL", "1800", "lifetime of login and consent challenges, seconds"),
    ("AUTHORIZATION_CODE_TTL", "600", "authorization code lifetime, seconds"),
    ("ID_TOKEN_TTL", "3600", "ID token lifetime, seconds"),
    ("REFRESH_TOKEN_TTL", "2592000", "absolute refresh token (and grant) lifetime, seconds (30 days)"),
    ("REFRESH_TOKEN_IDLE_TTL", "1209600", "a refresh token unused this long expires, seconds (14 days)"),
    (
        "REFRESH_MIN_INTERVAL",
        "10",
        "seconds after its issue before a refresh token is usable: one refresh per grant per interval",
    ),
    ("SESSION_TTL", "86400", "default browser login session lifetime when `remember_for` is 0, seconds"),
    ("SESSION_IDLE_TTL", "7200", "a browser login session unused this long ends, seconds (idle timeout)"),
    ("LOGIN_MAX_FAILURES", "5", "sign-in attempts in a row per username and source address; then 2, 4, 8... s apart"),
    ("LOGIN_LOCKOUT_SECONDS", "900", "longest delay between sign-in attempts of one username from one address"),
    ("LOGIN_USERNAME_MAX_ATTEMPTS", "100", "sign-in attempts per username per hour from all addresses; then locked"),
    (
        "LOGIN_SOURCE_MAX_ATTEMPTS",
        "100",
        "sign-in attempts per source address (IPv6: per /64) per hour; then throttled",
    ),
    ("LOGIN_CHALLENGE_MAX_ATTEMPTS", "10", "sign-in attempts per login challenge; then it is void"),
)


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = {name: os.environ.get(name) or default for name, default, _ in ENVIRONMENT}
    return Settings(
        stage=env["STAGE"],
        issuer_url=env["ISSUER_URL"].rstrip("/"),
        issuer_configured=bool(os.environ.get("ISSUER_URL")),
        clients_table=env["CLIENTS_TABLE"],
        users_table=env["USERS_TABLE"],
        state_table=env["STATE_TABLE"],
        keys_secret_id=env["KEYS_SECRET_ID"],
        pepper_secret_id=env["PEPPER_SECRET_ID"],
        key_mode=env["KEY_MODE"],
        access_token_signing_alg=env["ACCESS_TOKEN_SIGNING_ALG"],
        access_token_ttl=_int("ACCESS_TOKEN_TTL", 3600),
        client_cache_seconds=_int("CLIENT_CACHE_SECONDS", 60),
        key_cache_seconds=_int("KEY_CACHE_SECONDS", 300),
        kms_key_alias_prefix=env["KMS_KEY_ALIAS_PREFIX"],
        kms_signer_role_arn=env["KMS_SIGNER_ROLE_ARN"],
        kms_rotation_role_arn=env["KMS_ROTATION_ROLE_ARN"],
        key_rotation_schedule=env["KEY_ROTATION_SCHEDULE"],
        login_url=env["LOGIN_URL"].replace("{issuer}", env["ISSUER_URL"].rstrip("/")),
        consent_url=env["CONSENT_URL"].replace("{issuer}", env["ISSUER_URL"].rstrip("/")),
        device_url=env["DEVICE_URL"].replace("{issuer}", env["ISSUER_URL"].rstrip("/")),
        device_code_ttl=_int("DEVICE_CODE_TTL", 600),
        device_poll_interval=_int("DEVICE_POLL_INTERVAL", 5),
        challenge_ttl=_int("CHALLENGE_TTL", 1800),
        authorization_code_ttl=_int("AUTHORIZATION_CODE_TTL", 600),
        id_token_ttl=_int("ID_TOKEN_TTL", 3600),
        refresh_token_ttl=_int("REFRESH_TOKEN_TTL", 2592000),
        refresh_token_idle_ttl=_int("REFRESH_TOKEN_IDLE_TTL", 1209600),
        refresh_min_interval=_int("REFRESH_MIN_INTERVAL", 10),
        session_ttl=_int("SESSION_TTL", 86400),
        session_idle_ttl=_int("SESSION_IDLE_TTL", 7200),
        login_max_failures=_int("LOGIN_MAX_FAILURES", 5),
        login_lockout_seconds=_int("LOGIN_LOCKOUT_SECONDS", 900),
        login_username_max_attempts=_int("LOGIN_USERNAME_MAX_ATTEMPTS", 100),
        login_source_max_attempts=_int("LOGIN_SOURCE_MAX_ATTEMPTS", 100),
        login_challenge_max_attempts=_int("LOGIN_CHALLENGE_MAX_ATTEMPTS", 10),
    )
