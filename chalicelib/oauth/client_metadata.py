"""Client metadata: validating what an administrator registers (RFC 7591 §2).

Registration (RFC 7591 §3.1) and update (RFC 7592 §2.2, full replacement:
a field left out returns to its default) both pass through :func:`validate`,
which reads each field's type, then checks the rules that tie fields
together.  The server owns ``client_id``, ``client_secret``,
``client_id_issued_at`` and ``client_secret_expires_at``: registration
refuses them; an update may echo back the registered values (so the output
of ``clients get`` can be edited and sent back) but never change them.

Errors are the RFC 7591 §3.2.2 codes: ``invalid_redirect_uri`` for anything
about ``redirect_uris`` and ``post_logout_redirect_uris``,
``invalid_client_metadata`` for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any
from urllib.parse import urlsplit

from chalicelib.oauth import redirect_uris
from chalicelib.oauth.clients import AUTH_METHODS, Client
from chalicelib.oauth.cors import origin_of
from chalicelib.oauth.errors import InvalidClientMetadata, InvalidRedirectUri, OAuthError
from chalicelib.oauth.scopes import SCOPE_TOKEN
from chalicelib.tokens.jws import SIGNING_ALGORITHMS

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = frozenset({AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN, DEVICE_CODE})
# RFC 9700 §2.4 and §2.1.2: the password and implicit grants must not be used.
REFUSED_GRANT_TYPES = frozenset({"password", "implicit"})
RESPONSE_TYPES = frozenset({"code"})
TOKEN_ENDPOINT_AUTH_METHODS = frozenset(AUTH_METHODS)
ACCESS_TOKEN_STRATEGIES = frozenset({"jwt", "opaque"})
ID_TOKEN_SIGNING_ALGS = frozenset(SIGNING_ALGORITHMS)

# Audience values travel space-separated in token requests: no spaces or controls.
AUDIENCE = re.compile(r"[\x21-\x7e]+")

# Set by the server, never by the administrator.
SERVER_FIELDS = ("client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at")

Reader = Callable[[str, Any], Any]


# --- field types -------------------------------------------------------------


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"{name} must be true or false")
    return value


def _strings(name: str, value: Any, error: type[OAuthError]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise error(f"{name} must be a list of strings")
    for item in value:
        if value.count(item) > 1:
            raise error(f"{name} lists '{item}' more than once")
    return tuple(value)


def _one_of(allowed: frozenset[str]) -> Reader:
    def read(name: str, value: Any) -> str:
        if _string(name, value) not in allowed:
            raise InvalidClientMetadata(f"{name} must be one of {', '.join(sorted(allowed))}, not '{value}'")
        return value

    return read


# --- URIs (RFC 6749 §3.1.2, RFC 8252 §7) ---------------------------------------


def _client_uri(name: str, value: Any) -> str:
    """A web page shown on the consent screen: http(s) only, never ``javascript:``."""
    uri = _string(name, value)
    if uri and not _is_web_url(uri):
        raise InvalidClientMetadata(f"{name} must be an absolute http or https URL")
    return uri


def _is_web_url(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not redirect_uris.has_unsafe_characters(uri)


def _each_checked(
    name: str, value: Any, problem_of: Callable[[str], str | None], error: type[OAuthError]
) -> tuple[str, ...]:
    """A list of strings, each refused with ``error`` when ``problem_of`` names a problem."""
    items = _strings(name, value, error)
    for item in items:
        problem = problem_of(item)
        if problem:
            raise error(f"{name}: '{item}' {problem}")
    return items


def _redirect_uris(name: str, value: Any) -> tuple[str, ...]:
    return _each_checked(name, value, redirect_uri_problem, InvalidRedirectUri)


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered as a redirection endpoint, or None if it can."""
    problem = redirect_uris.problem(uri)
    if problem:
        return problem
    parts = urlsplit(uri)
    if not parts.scheme:
        return "must be an absolute URI"
    if parts.scheme == "https":
        return None if parts.hostname else "must name a host"
    if parts.scheme == "http":
        return _http_problem(uri, parts.hostname)
    if "." in parts.scheme:
        return None  # RFC 8252 §7.1: a private-use scheme in reverse domain form, e.g. com.example.app:/cb
    return "must use https, loopback http, or a private-use scheme such as com.example.app"


def _cors_origins(name: str, value: Any) -> tuple[str, ...]:
    return _each_checked(name, value, cors_origin_problem, InvalidClientMetadata)


def cors_origin_problem(origin: str) -> str | None:
    """Why ``origin`` cannot be an allowed CORS origin, or None if it can.

    It must be exactly what a browser sends in ``Origin`` (compared as a
    string, never as a pattern), over https or loopback http like a redirect URI.
    """
    if "*" in origin:
        return "must not contain a wildcard: list each origin"
    canonical = origin_of(origin)
    if canonical is None:
        return "must be an origin: scheme://host[:port] with https, or http for loopback"
    parts = urlsplit(origin)
    if parts.path or parts.query or parts.fragment or origin.endswith(("?", "#")):
        return "must have no path, query or fragment"
    if canonical != origin:
        return f"must be written as a browser sends it: '{canonical}'"
    if parts.scheme == "http" and not redirect_uris.is_loopback(origin):
        return "must use https (http is allowed only for loopback)"
    return None


def _http_problem(uri: str, host: str | None) -> str | None:
    """RFC 8252 §7.3: loopback redirects are the one place plain http is allowed."""
    if redirect_uris.is_loopback(uri):
        return None
    if host == "localhost":
        # RFC 8252 §8.3: a name can resolve anywhere (a hosts file, a hostile resolver); the literal cannot.
        return (
            "uses 'localhost', which is not a loopback IP literal: use http://127.0.0.1 or http://[::1] (RFC 8252 §8.3)"
        )
    return "must use https (http is allowed only for loopback http://127.0.0.1 or http://[::1])"


# --- other single fields ---------------------------------------------------------


def _grant_types(name: str, value: Any) -> tuple[str, ...]:
    grant_types = _strings(name, value, InvalidClientMetadata)
    if not grant_types:
        raise InvalidClientMetadata(f"{name} must not be empty")
    for grant_type in grant_types:
        if grant_type in REFUSED_GRANT_TYPES:
            raise InvalidClientMetadata(f"grant type '{grant_type}' is not allowed (OAuth 2.0 Security BCP, RFC 9700)")
        if grant_type not in GRANT_TYPES:
            raise InvalidClientMetadata(f"grant type '{grant_type}' is not supported")
    return grant_types


def _response_types(name: str, value: Any) -> tuple[str, ...]:
    response_types = _strings(name, value, InvalidClientMetadata)
    for response_type in response_types:
        if response_type not in RESPONSE_TYPES:
            raise InvalidClientMetadata(f"response type '{response_type}' is not supported; only 'code' is")
    return response_types


def _scope(name: str, value: Any) -> str:
    """RFC 6749 §3.3: ``scope-token *( SP scope-token )``, without repeats."""
    scope = _string(name, value)
    if not scope:
        return scope
    tokens = scope.split(" ")
    for token in tokens:
        if not SCOPE_TOKEN.fullmatch(token):
            raise InvalidClientMetadata(
                f"{name} must be scope tokens separated by single spaces; '{token}' is not a scope token"
            )
        if tokens.count(token) > 1:
            raise InvalidClientMetadata(f"{name} lists '{token}' more than once")
    return scope


def _audience(name: str, value: Any) -> tuple[str, ...]:
    audience = _strings(name, value, InvalidClientMetadata)
    for item in audience:
        if not AUDIENCE.fullmatch(item):
            raise InvalidClientMetadata(f"{name}: '{item}' must be non-empty and contain no spaces")
    return audience


READERS: Mapping[str, Reader] = {
    "client_name": _string,
    "client_uri": _client_uri,
    "redirect_uris": _redirect_uris,
    "post_logout_redirect_uris": _redirect_uris,
    "grant_types": _grant_types,
    "response_types": _response_types,
    "scope": _scope,
    "token_endpoint_auth_method": _one_of(TOKEN_ENDPOINT_AUTH_METHODS),
    "audience": _audience,
    "access_token_strategy": _one_of(ACCESS_TOKEN_STRATEGIES),
    "skip_consent": _boolean,
    "require_pkce": _boolean,
    "id_token_signed_response_alg": _one_of(ID_TOKEN_SIGNING_ALGS),
    "allowed_cors_origins": _cors_origins,
}

DEFAULTS: Mapping[str, Any] = {f.name: f.default for f in fields(Client) if f.name in READERS}


# --- rules across fields ---------------------------------------------------------


def _default_response_types(grant_types: tuple[str, ...], given: tuple[str, ...] | None) -> tuple[str, ...]:
    """RFC 7591 §2.1: ``code`` goes with ``authorization_code`` and nothing else."""
    uses_code = AUTHORIZATION_CODE in grant_types
    if given is None:
        return ("code",) if uses_code else ()
    if uses_code and "code" not in given:
        raise InvalidClientMetadata("grant type 'authorization_code' requires response type 'code'")
    if not uses_code and "code" in given:
        raise InvalidClientMetadata("response type 'code' requires grant type 'authorization_code'")
    return given


def _check_redirect_flows(values: Mapping[str, Any]) -> None:
    if AUTHORIZATION_CODE in values["grant_types"] and not values["redirect_uris"]:
        raise InvalidRedirectUri("grant type 'authorization_code' requires at least one redirect_uri")


def _check_public_clients(values: Mapping[str, Any]) -> None:
    """A client without a secret (``none``) cannot act on its own behalf, and must use PKCE."""
    if values["token_endpoint_auth_method"] != "none":
        return
    if CLIENT_CREDENTIALS in values["grant_types"]:
        raise InvalidClientMetadata(
            "grant type 'client_credentials' needs a client secret; token_endpoint_auth_method 'none' has none"
        )
    if AUTHORIZATION_CODE in values["grant_types"] and not values["require_pkce"]:
        raise InvalidClientMetadata(
            "public clients (token_endpoint_auth_method 'none') must use PKCE (RFC 9700 §2.1.1)"
        )


def _check_refresh_token(values: Mapping[str, Any]) -> None:
    if REFRESH_TOKEN in values["grant_types"] and not {AUTHORIZATION_CODE, DEVICE_CODE} & set(values["grant_types"]):
        raise InvalidClientMetadata(
            "grant type 'refresh_token' requires 'authorization_code' or 'urn:ietf:params:oauth:grant-type:device_code'"
        )


RULES: tuple[Callable[[Mapping[str, Any]], None], ...] = (
    _check_redirect_flows,
    _check_public_clients,
    _check_refresh_token,
)


# --- entry points ------------------------------------------------------------------


def validate(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Every metadata field of a :class:`Client`, defaults filled in, or a typed RFC 7591 error.

    A JSON ``null`` counts as omitted (RFC 7592 §2.2).
    """
    _check_fields(metadata)
    given = {name: READERS[name](name, value) for name, value in metadata.items() if value is not None}
    values = {**DEFAULTS, **given}
    values["response_types"] = _default_response_types(values["grant_types"], given.get("response_types"))
    for rule in RULES:
        rule(values)
    return values


def new_client(metadata: Mapping[str, Any], *, client_id: str, issued_at: int) -> Client:
    """The client registered from ``metadata`` (RFC 7591 §3.1), still without a secret."""
    return Client(client_id=client_id, client_id_issued_at=issued_at, **validate(metadata))


def replaced_client(existing: Client, metadata: Mapping[str, Any]) -> Client:
    """``existing`` with its metadata replaced by ``metadata`` (RFC 7592 §2.2).

    The identity, issue time and secret hashes (a previous secret in its
    grace period included) stay; a client that becomes public loses them
    all, so turning it confidential again needs a new secret rather than
    reviving an old one.
    """
    _check_echoed_server_fields(existing, metadata)
    client = replace(existing, **validate({k: v for k, v in metadata.items() if k not in SERVER_FIELDS}))
    if not client.is_public:
        return client
    return replace(client, client_secret_hash="", previous_client_secret_hash="", previous_client_secret_expires_at=0)


def _check_fields(metadata: Mapping[str, Any]) -> None:
    if not isinstance(metadata, Mapping):
        raise InvalidClientMetadata("client metadata must be a JSON object")
    for name in SERVER_FIELDS:
        if name in metadata:
            raise InvalidClientMetadata(f"{name} is assigned by the server and cannot be set")
    unknown = sorted(str(name) for name in metadata if name not in READERS)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise InvalidClientMetadata(f"unknown client metadata field{plural}: {', '.join(unknown)}")


def _check_echoed_server_fields(existing: Client, metadata: Mapping[str, Any]) -> None:
    """An update may repeat the registered ``client_id`` and timestamps (RFC 7592 §2.2), not change them."""
    if not isinstance(metadata, Mapping):
        raise InvalidClientMetadata("client metadata must be a JSON object")
    if "client_secret" in metadata:
        raise InvalidClientMetadata("client_secret cannot be set; rotate the secret instead")
    registered = existing.metadata()
    for name in ("client_id", "client_id_issued_at", "client_secret_expires_at"):
        if name in metadata and metadata[name] != registered[name]:
            raise InvalidClientMetadata(f"{name} is assigned by the server and cannot be changed")
