"""Client authentication at the token, introspection, revocation and device endpoints.

RFC 6749 §2.3: ``client_secret_basic`` (§2.3.1, with the id and secret
form-encoded before base64), ``client_secret_post``, and ``none`` for public
clients (§2.1, identified by ``client_id`` alone).  A client uses exactly
the method it registered, and never more than one method in a request.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from time import monotonic

from chalicelib import clock
from chalicelib.oauth.clients import Client
from chalicelib.oauth.credentials import NO_HASH, client_secret_matches_either
from chalicelib.oauth.errors import InvalidClient, InvalidRequest
from chalicelib.oauth.http import form_decoded
from chalicelib.oauth.ports import ClientLookup, Pepper
from chalicelib.oauth.request import Params, Request, check_length

# A wrong secret may be a secret rotated in another container, so the client
# is read again past the cache; but at most once per client per this many
# seconds in a container, so a flood of wrong secrets costs one strongly
# consistent read per interval rather than one per request.  The price: a
# secret rotated without a grace period can be refused on a warm container
# for up to this long after someone presented a wrong one.
RECHECK_SECONDS = 5


@dataclass(frozen=True)
class Presented:
    """What the request offered: which method, the id, and the secret if any."""

    method: str
    client_id: str
    client_secret: str | None


def decode_basic(credentials: str) -> tuple[str, str] | None:
    """The client id and secret of ``Basic`` credentials (§2.3.1: form-encoded, then base64); None if malformed."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 (UnicodeDecodeError): all ValueErrors
        return None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon or not client_id:
        return None
    return form_decoded(client_id), form_decoded(client_secret)


def _from_basic_header(header: str) -> Presented:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported authentication scheme", used_header=True)
    decoded = decode_basic(credentials)
    if decoded is None:
        raise InvalidClient("malformed Basic credentials", used_header=True)
    client_id, client_secret = decoded
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


class _Rechecks:
    """When this container last re-read each client past its cache (monotonic clock).

    Only registered client ids get here, and an entry goes once its interval
    is over, so the map holds at most the clients re-read in the last interval.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._last: dict[str, float] = {}  # oldest first
        self._lock = threading.Lock()

    def allow(self, client_id: str) -> bool:
        """True, and remembered, unless ``client_id`` was re-read within the interval."""
        now = monotonic()
        with self._lock:
            self._forget_over(now)
            if client_id in self._last:
                return False
            self._last[client_id] = now
            return True

    def _forget_over(self, now: float) -> None:
        # Entries are added in time order and never updated, so the oldest is first.
        while self._last:
            oldest, at = next(iter(self._last.items()))
            if now - at < self._seconds:
                return
            del self._last[oldest]


class ClientAuthenticator:
    def __init__(self, clients: ClientLookup, pepper: Pepper) -> None:
        self._clients = clients
        self._pepper = pepper
        self._rechecks = _Rechecks(RECHECK_SECONDS)

    def authenticate(self, request: Request, params: Params) -> Client:
        presented = presented_credentials(request, params)
        used_header = presented.method == "client_secret_basic"
        client = self._clients.find(presented.client_id)
        if client is None:
            self._spend_equal_time(presented)
            raise InvalidClient("unknown client or wrong credentials", used_header=used_header)
        if not self._secret_ok(client, presented):
            client = self._recheck(presented.client_id)
            if client is None or not self._secret_ok(client, presented):
                raise InvalidClient("unknown client or wrong credentials", used_header=used_header)
        if client.token_endpoint_auth_method != presented.method:
            raise InvalidClient(
                f"client is registered for {client.token_endpoint_auth_method}, not {presented.method}",
                used_header=used_header,
            )
        request.events.client_id = client.client_id  # authenticated: from here on, the outcome names it
        return client

    def _recheck(self, client_id: str) -> Client | None:
        """The client read past the cache (a secret rotated in another container), if not done lately."""
        if not self._rechecks.allow(client_id):
            return None
        return self._clients.find(client_id, fresh=True)

    def _secret_ok(self, client: Client, presented: Presented) -> bool:
        if presented.client_secret is None:
            return client.is_public
        if client.is_public or not client.client_secret_hash:
            return False
        return client_secret_matches_either(
            self._pepper.pepper(), presented.client_secret, client.client_secret_hash, _previous_hash(client)
        )

    def _spend_equal_time(self, presented: Presented) -> None:
        """Spent on unknown client ids so that a miss costs what a hit costs."""
        if presented.client_secret is not None:
            client_secret_matches_either(self._pepper.pepper(), presented.client_secret, NO_HASH, NO_HASH)


def _previous_hash(client: Client) -> str:
    """The secret before the last rotation, while its grace period runs; checked on every use."""
    if clock.now() < client.previous_client_secret_expires_at:
        return client.previous_client_secret_hash
    return ""
