"""Admin operations, shared by the admin Lambda and the CLI (DESIGN §1, §5).

One entry point, :func:`handle`, takes an event
``{"operation": "clients.create", "params": {...}}`` and answers
``{"result": ...}`` or ``{"error": code, "error_description": ...}``
(:mod:`chalicelib.operations`).

Params of the ``clients.*`` operations:

- ``clients.create``: the client metadata itself (the RFC 7591 §3.1 request body);
- ``clients.update``: ``client_id`` plus the complete new metadata (the RFC 7592 §2.2 body);
- ``clients.get``, ``clients.delete``: ``{"client_id": ...}``;
- ``clients.rotate_secret``: ``client_id`` and optionally ``keep_old_for``, the
  seconds (0 to 30 days) the secret being replaced stays valid beside the new
  one, so a fleet of client instances can roll over; 0 or absent ends it at once.
  Only the latest replaced secret is kept: rotating again during a grace
  period ends the older one at once;
- ``clients.list``: nothing.

``users.create`` takes ``username`` and ``password`` and optionally ``email``,
``email_verified`` and ``name``; it answers the user with its ``user_id`` (the
OIDC ``sub``) and never the password or its hash.

``users.disable``, ``users.enable`` and ``users.sign_out`` take ``user_id``.
Disabling sets the user's flag (the default login page then refuses them)
and signs them out; enabling clears the flag and brings nothing back.
Signing out works for any ``sub``, also one a team's own login app
authenticates: it ends every session and revokes every grant of that person
(:mod:`chalicelib.oauth.people`).  ``consents.list`` and ``consents.revoke``
take ``user_id`` and optionally ``client_id``: revoking forgets the
remembered consent and revokes the person's grants of that client (or of
every client).

``keys.rotate`` and ``keys.list`` take nothing, ``keys.revoke`` takes ``kid``;
deployed, they are carried out by the ``rotate_keys`` function (see
:mod:`chalicelib.keys.rotation`).

Operations live in :data:`OPERATIONS` (name -> function of the params).  The
``clients.*`` operations are RFC 7591 §3 registration and RFC 7592 §2
read / update / delete, plus secret rotation; ``users.*`` and ``keys.*``
register in the same table.  The login, consent and device challenge
operations are not here: they run in their own function, ``interactions``
(:mod:`chalicelib.headless`), so a team's login app, which may invoke that
function, can never register a client or touch a user or key.

A client secret is returned only by ``clients.create``, ``clients.rotate_secret``
and an update that turns a public client confidential; it is stored as an
HMAC under the pepper and can never be read back.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from chalicelib import clock, services
from chalicelib.oauth.client_metadata import new_client, replaced_client
from chalicelib.oauth.clients import Client
from chalicelib.oauth.credentials import hash_client_secret, new_client_secret
from chalicelib.oauth.errors import InvalidRequest, NotFound
from chalicelib.oauth.ports import SecretChanged
from chalicelib.oauth.users import UsernameTaken, new_user
from chalicelib.operations import Operation, Params, dispatch


def handle(event: Any) -> dict[str, Any]:
    """The admin function: one of :data:`OPERATIONS` (never a login/consent answer: see :mod:`chalicelib.headless`)."""
    return dispatch(event, OPERATIONS)


# --- reading params ---------------------------------------------------------------


def _params(params: Params, *names: str, optional: tuple[str, ...] = ()) -> list[Any]:
    """The values of ``names``, all required; besides them only ``optional`` params accepted."""
    extra = sorted(str(name) for name in params if name not in names and name not in optional)
    if extra:
        raise InvalidRequest(f"unexpected parameter{'s' if len(extra) > 1 else ''}: {', '.join(extra)}")
    missing = [name for name in names if name not in params]
    if missing:
        raise InvalidRequest(f"missing parameter: {', '.join(missing)}")
    return [params[name] for name in names]


def _client_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest("client_id must be a non-empty string")
    return value


def _existing_client(client_id: Any) -> Client:
    client = services.client_repository().find(_client_id(client_id), fresh=True)
    if client is None:
        raise NotFound(f"no client with client_id '{client_id}'")
    return client


# --- secrets ------------------------------------------------------------------------


def _new_client_id() -> str:
    # 128 random bits; hex so an id never starts with "-" and reads as a CLI option.
    return secrets.token_hex(16)


# The longest grace period of a rotated secret: long enough for any fleet to roll over.
MAX_KEEP_OLD_FOR = 30 * 24 * 3600


def _with_new_secret(client: Client, *, keep_old_for: int = 0) -> tuple[Client, str]:
    """``client`` holding the hash of a fresh secret, and the secret, to be shown once.

    With ``keep_old_for`` the current secret becomes the previous one, valid
    for that many more seconds; a previous secret from an earlier rotation is
    dropped either way, so at most two secrets are ever valid.
    """
    secret = new_client_secret()
    previous_hash, previous_expires_at = "", 0
    if keep_old_for and client.client_secret_hash:
        previous_hash, previous_expires_at = client.client_secret_hash, int(clock.now()) + keep_old_for
    rotated = replace(
        client,
        client_secret_hash=hash_client_secret(services.pepper().pepper(), secret),
        previous_client_secret_hash=previous_hash,
        previous_client_secret_expires_at=previous_expires_at,
    )
    return rotated, secret


def _keep_old_for(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_KEEP_OLD_FOR:
        raise InvalidRequest(f"keep_old_for must be a whole number of seconds from 0 to {MAX_KEEP_OLD_FOR} (30 days)")
    return value


def _registration(client: Client, secret: str | None = None) -> dict[str, Any]:
    """RFC 7591 §3.2.1 response: the metadata, plus the secret when one was just issued."""
    shown = client.metadata()
    if secret is not None:
        shown["client_secret"] = secret
    return shown


# --- clients.* ------------------------------------------------------------------------


def create_client(params: Params) -> dict[str, Any]:
    """RFC 7591 §3.1: ``params`` is the client metadata."""
    client = new_client(params, client_id=_new_client_id(), issued_at=int(clock.now()))
    secret = None
    if not client.is_public:
        client, secret = _with_new_secret(client)
    services.client_repository().create(client)
    return _registration(client, secret)


def get_client(params: Params) -> dict[str, Any]:
    (client_id,) = _params(params, "client_id")
    return _registration(_existing_client(client_id))


def list_clients(params: Params) -> list[dict[str, Any]]:
    _params(params)
    clients = sorted(services.client_repository().list(), key=lambda c: (c.client_id_issued_at, c.client_id))
    return [_registration(client) for client in clients]


def update_client(params: Params) -> dict[str, Any]:
    """RFC 7592 §2.2: ``params`` is ``client_id`` and the complete new metadata."""
    client = replaced_client(_existing_client(params.get("client_id")), params)
    secret = None
    if not client.is_public and not client.client_secret_hash:
        client, secret = _with_new_secret(client)  # a public client became confidential
    _replace(client)
    return _registration(client, secret)


def delete_client(params: Params) -> dict[str, Any]:
    (client_id,) = _params(params, "client_id")
    if not services.client_repository().delete(_client_id(client_id)):
        raise NotFound(f"no client with client_id '{client_id}'")
    return {"client_id": client_id, "deleted": True}


def rotate_client_secret(params: Params) -> dict[str, Any]:
    """A new secret; with ``keep_old_for`` the old one is still accepted until the time shown."""
    (client_id,) = _params(params, "client_id", optional=("keep_old_for",))
    keep_old_for = _keep_old_for(params.get("keep_old_for", 0))
    client = _existing_client(client_id)
    if client.is_public:
        raise InvalidRequest("a public client (token_endpoint_auth_method 'none') has no secret to rotate")
    rotated, secret = _with_new_secret(client, keep_old_for=keep_old_for)
    _replace(rotated, if_secret_hash=client.client_secret_hash)  # never over a rotation we did not see
    shown = _registration(rotated, secret)
    if rotated.previous_client_secret_expires_at:
        shown["previous_client_secret_expires_at"] = rotated.previous_client_secret_expires_at
    return shown


def _replace(client: Client, *, if_secret_hash: str | None = None) -> None:
    try:
        services.client_repository().replace(client, if_secret_hash=if_secret_hash)
    except KeyError:
        raise NotFound(f"no client with client_id '{client.client_id}'") from None
    except SecretChanged:
        raise InvalidRequest(
            "the secret was rotated by someone else meanwhile; nothing changed, rotate again"
        ) from None


# --- users.* -------------------------------------------------------------------------

_USER_TYPES: dict[str, type] = {"username": str, "password": str, "email": str, "name": str, "email_verified": bool}


def create_user(params: Params) -> dict[str, Any]:
    """Add a person to the built-in user store; the password is hashed (scrypt) and never shown."""
    extra = sorted(str(name) for name in params if name not in _USER_TYPES)
    if extra:
        raise InvalidRequest(f"unexpected parameter: {', '.join(extra)}")
    for name, kind in _USER_TYPES.items():
        required = name in ("username", "password")
        if (required and name not in params) or (name in params and not isinstance(params[name], kind)):
            raise InvalidRequest(f"{name} must be a {'string' if kind is str else 'boolean'}")
    user = new_user(
        params["username"],
        params["password"],
        email=params.get("email", ""),
        name=params.get("name", ""),
        email_verified=params.get("email_verified", False),
    )
    try:
        services.users().create(user)
    except UsernameTaken:
        raise InvalidRequest(f"the username '{user.username}' is taken") from None
    return user.public()


def _user_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest("user_id must be a non-empty string")
    return value


def _set_disabled(params: Params, disabled: bool) -> dict[str, Any]:
    (user_id,) = _params(params, "user_id")
    user = services.users().set_disabled(_user_id(user_id), disabled)
    if user is None:
        raise NotFound(f"no user with user_id '{user_id}'")
    return user.public()


def disable_user(params: Params) -> dict[str, Any]:
    """The default login page refuses the user from now on, and all they had stops working."""
    user = _set_disabled(params, True)
    services.people().sign_out(user["user_id"])
    return user


def enable_user(params: Params) -> dict[str, Any]:
    """The user may sign in again; what disabling ended stays ended."""
    return _set_disabled(params, False)


def sign_out_user(params: Params) -> dict[str, Any]:
    (user_id,) = _params(params, "user_id")
    return services.people().sign_out(_user_id(user_id))


# --- consents.* ----------------------------------------------------------------------


def _consent_params(params: Params) -> tuple[str, str | None]:
    client_id = params.get("client_id")
    names = ("user_id", "client_id") if client_id is not None else ("user_id",)
    user_id, *_ = _params(params, *names)
    return _user_id(user_id), (_client_id(client_id) if client_id is not None else None)


def list_consents(params: Params) -> list[dict[str, Any]]:
    return services.people().consents(*_consent_params(params))


def revoke_consents(params: Params) -> dict[str, Any]:
    return services.people().revoke_consents(*_consent_params(params))


# --- keys.* --------------------------------------------------------------------------


def rotate_keys(params: Params) -> list[dict[str, Any]]:
    """Rotate the signing keys now (on a new stage: create them); the keys afterwards.

    Deployed, this asks the rotate_keys function: the admin function may not write keys itself.
    """
    _params(params)
    return services.rotate_keys()


def list_keys(params: Params) -> list[dict[str, Any]]:
    """kid, alg, status and creation time of every published signing key."""
    _params(params)
    return services.list_keys()


def revoke_key(params: Params) -> list[dict[str, Any]]:
    """Emergency: take a compromised key out of signing and the JWKS now; the keys afterwards."""
    (kid,) = _params(params, "kid")
    return services.revoke_key(kid)


OPERATIONS: dict[str, Operation] = {
    "clients.create": create_client,
    "clients.get": get_client,
    "clients.list": list_clients,
    "clients.update": update_client,
    "clients.delete": delete_client,
    "clients.rotate_secret": rotate_client_secret,
    "users.create": create_user,
    "users.disable": disable_user,
    "users.enable": enable_user,
    "users.sign_out": sign_out_user,
    "consents.list": list_consents,
    "consents.revoke": revoke_consents,
    "keys.rotate": rotate_keys,
    "keys.list": list_keys,
    "keys.revoke": revoke_key,
}
