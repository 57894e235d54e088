"""Client authentication at the token, introspection, revocation and device endpoints.

RFC 6749 §2.3: ``client_secret_basic`` (§2.3.1, with the id and secret
form-encoded before base64), ``client_secret_post``, and ``none`` for public
clients (§2.1, identified by ``client_id`` alone).  A client uses exactly
the method it registered, and never more than one method in a request.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_plus

from chalicelib.oauth.clients import Client
from chalicelib.oauth.credentials import client_secret_matches
from chalicelib.oauth.errors import InvalidClient, InvalidRequest
from chalicelib.oauth.ports import ClientLookup, Pepper
from chalicelib.oauth.request import Params, Request, check_length

# Spent on unknown client ids so that a miss costs what a hit costs.
_DUMMY_HASH = "0" * 64


@dataclass(frozen=True)
class Presented:
    """What the request offered: which method, the id, and the secret if any."""

    method: str
    client_id: str
    client_secret: str | None


def _from_basic_header(header: str) -> Presented:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported authentication scheme", used_header=True)
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials", used_header=True) from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("malformed Basic credentials", used_header=True)
    client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
    return Presented(
        "client_secret_basic", check_length("client_id", client_id), check_length("client_secret", client_secret)
    )


def presented_credentials(request: Request, params: Params) -> Presented:
    header = request.headers.get("authorization")
    body_secret = params.get("client_secret")
    body_id = params.get("client_id")
    if header is not None:
        if body_secret is not None:
            raise InvalidRequest("more than one client authentication method was used")
        presented = _from_basic_header(header)
        if body_id is not None and body_id != presented.client_id:
            raise InvalidClient("client_id does not match the authenticated client", used_header=True)
        return presented
    if body_id is None:
        raise InvalidClient("client authentication is required")
    if body_secret is not None:
        return Presented("client_secret_post", body_id, body_secret)
    return Presented("none", body_id, None)


class ClientAuthenticator:
    def __init__(self, clients: ClientLookup, pepper: Pepper) -> None:
        self._clients = clients
        self._pepper = pepper

    def authenticate(self, request: Request, params: Params) -> Client:
        presented = presented_credentials(request, params)
        used_header = presented.method == "client_secret_basic"
        client = self._clients.find(presented.client_id)
        if client is None:
            self._spend_equal_time(presented)
            raise InvalidClient("unknown client or wrong credentials", used_header=used_header)
        if not self._secret_ok(client, presented):
            # A secret rotated in another container: look once more past the cache.
            client = self._clients.find(presented.client_id, fresh=True)
            if client is None or not self._secret_ok(client, presented):
                raise InvalidClient("unknown client or wrong credentials", used_header=used_header)
        if client.token_endpoint_auth_method != presented.method:
            raise InvalidClient(
                f"client is registered for {client.token_endpoint_auth_method}, not {presented.method}",
                used_header=used_header,
            )
        return client

    def _secret_ok(self, client: Client, presented: Presented) -> bool:
        if presented.client_secret is None:
            return client.is_public
        if client.is_public or not client.client_secret_hash:
            return False
        return client_secret_matches(self._pepper.pepper(), presented.client_secret, client.client_secret_hash)

    def _spend_equal_time(self, presented: Presented) -> None:
        if presented.client_secret is not None:
            client_secret_matches(self._pepper.pepper(), presented.client_secret, _DUMMY_HASH)
