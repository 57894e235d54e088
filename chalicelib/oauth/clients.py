"""Registered clients: the RFC 7591 metadata Tollgate keeps for each."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

# RFC 6749 §2.3.1 and RFC 7591 §2: how a client authenticates; discovery and registration both read these.
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
AUTH_METHODS = (*CONFIDENTIAL_AUTH_METHODS, "none")  # "none": a public client (PKCE instead of a secret)

# RFC 7591 §2 names, plus Tollgate's (and Hydra's) extensions.
PUBLIC_FIELDS = (
    "client_id",
    "client_name",
    "client_uri",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "response_types",
    "scope",
    "token_endpoint_auth_method",
    "audience",
    "access_token_strategy",
    "skip_consent",
    "require_pkce",
    "id_token_signed_response_alg",
    "client_id_issued_at",
    "client_secret_expires_at",
    "allowed_cors_origins",
)


@dataclass(frozen=True)
class Client:
    client_id: str
    client_name: str = ""
    client_uri: str = ""
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code",)
    response_types: tuple[str, ...] = ("code",)
    scope: str = ""
    token_endpoint_auth_method: str = "client_secret_basic"
    audience: tuple[str, ...] = ()
    access_token_strategy: str = "jwt"
    skip_consent: bool = False
    require_pkce: bool = True
    id_token_signed_response_alg: str = "RS256"
    client_id_issued_at: int = 0
    # RFC 7591 §3.2.1: 0 means the secret never expires.
    client_secret_expires_at: int = 0
    # Hydra's name: origins besides the redirect URIs' that may read this client's answers (chalicelib.oauth.cors).
    allowed_cors_origins: tuple[str, ...] = ()
    # HMAC of the secret under the server's pepper; never the secret itself.
    client_secret_hash: str = field(default="", repr=False)
    # Secret rollover: the secret before the last rotation stays valid until
    # this Unix time (0: not at all).  Server-owned, never shown or settable.
    previous_client_secret_hash: str = field(default="", repr=False)
    previous_client_secret_expires_at: int = 0

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @cached_property  # read on every token request; a client is immutable (a change makes a new one)
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def metadata(self) -> dict[str, Any]:
        """What the admin API shows: everything but the secret hashes."""
        data = asdict(self)
        return {name: list(v) if isinstance(v, tuple) else v for name, v in data.items() if name in PUBLIC_FIELDS}

    def to_record(self) -> dict[str, Any]:
        data = asdict(self)
        return {name: list(v) if isinstance(v, tuple) else v for name, v in data.items()}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Client:
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in known}
        return cls(**values)
