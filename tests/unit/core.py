"""The protocol core on in-memory adapters: tests/unit's harness (no moto, no Chalice, no AWS SDK).

``services.use_adapters`` builds every endpoint and grant exactly as in production (the composition
root is the same code), only on in-memory ports: ``MemoryStateStore`` (tests/contract/ proves it keeps
DynamoDB's rules), a dict of clients, a key set generated once per run, a fixed pepper.  ``CoreHttp``
answers the paths of the routes with the core's endpoint objects and the framework-free ``Request``,
with the same ``get``/``post`` as Chalice's test client, so tests/oauth_flow.py's helpers (sign in,
exchange, introspect) drive it unchanged.  A protocol rule costs milliseconds here, not a moto round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib import services
from chalicelib.keys import jwkset
from chalicelib.oauth import paths
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import OAuthError
from chalicelib.oauth.http import Page, Response
from chalicelib.oauth.ports import SecretChanged
from chalicelib.oauth.request import Params, Request
from chalicelib.storage.memory import MemoryStateStore

SOURCE_IP = "192.0.2.10"  # RFC 5737 documentation address: every request of the harness comes from it


class MemoryClients:
    """``ClientRepository`` on a dict: what the Clients table holds, without its container cache."""

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}

    def find(self, client_id: str, *, fresh: bool = False) -> Client | None:
        return self._clients.get(client_id)

    def create(self, client: Client) -> None:
        if client.client_id in self._clients:
            raise KeyError(f"client {client.client_id} exists")
        self._clients[client.client_id] = client

    def replace(self, client: Client, *, if_secret_hash: str | None = None) -> None:
        stored = self._clients[client.client_id]  # KeyError if absent, as the DynamoDB repository
        if if_secret_hash is not None and stored.client_secret_hash != if_secret_hash:
            raise SecretChanged(client.client_id)
        self._clients[client.client_id] = client

    def delete(self, client_id: str) -> bool:
        return self._clients.pop(client_id, None) is not None

    def list(self) -> list[Client]:
        return list(self._clients.values())


class MemoryKeys:
    """``KeyProvider`` over a private JWK set held in memory (``jwkset`` makes and loads it; no Secrets Manager)."""

    def __init__(self, keyset: Mapping[str, Any]) -> None:
        self._keys = {key.kid: key for key in map(jwkset.load, keyset["keys"])}

    def signing_key(self, alg: str) -> jwkset.LoadedKey:
        return next(key for key in self._keys.values() if key.alg == alg and key.status == "current")

    def verification_key(self, kid: str) -> tuple[str, Any] | None:
        key = self._keys.get(kid)
        return (key.alg, key.public_key) if key else None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk for key in self._keys.values()]}


class FixedPepper:
    def pepper(self) -> bytes:
        return b"tests/unit: a pepper that never changes"


@dataclass(frozen=True)
class Answer:
    """What a route answered, shaped like Chalice's test response (``status_code``, ``headers``, ``body``)."""

    status_code: int
    headers: dict[str, Any]
    body: str
    page: Page | None = None  # the page, for a route that answered one (the core renders no HTML)


def _answer(result: Response | Page) -> Answer:
    headers: dict[str, Any] = dict(result.headers)
    if result.cookies:
        headers["Set-Cookie"] = list(result.cookies)
    if isinstance(result, Page):
        return Answer(result.status, headers, f"{result.template} {dict(result.context)}", result)
    return Answer(result.status, headers, result.body)


Handler = Callable[[Request], Response | Page]


def _device_verification(request: Request) -> Response | Page:
    """The device page's one core step: back from the device app with a ``device_verifier``."""
    return services.authorization_endpoint().resume_device(request, request.query.require("device_verifier"))


ROUTES: dict[tuple[str, str], Callable[[], Handler]] = {
    ("POST", paths.TOKEN): lambda: services.token_endpoint().handle,
    ("POST", paths.INTROSPECTION): lambda: services.introspection_endpoint().handle,
    ("POST", paths.REVOCATION): lambda: services.revocation_endpoint().handle,
    ("POST", paths.DEVICE_AUTHORIZATION): lambda: services.device_authorization_endpoint().handle,
    ("GET", paths.AUTHORIZATION): lambda: services.authorization_endpoint().handle,
    ("GET", paths.DEVICE_VERIFICATION): lambda: _device_verification,
    ("GET", paths.JWKS): lambda: lambda _: services.jwks_endpoint().handle(),
}


@dataclass
class CoreHttp:
    """Chalice's test client's ``get``/``post``, answered by the core's endpoints on in-memory adapters.

    As ``web.adapter.respond`` does, an ``OAuthError`` raised past an endpoint becomes its RFC answer (a
    page on GET routes), and so does storage refusing a request's value (``services.refused_input``);
    anything else propagates, so a would-be 500 fails the test with its traceback.
    """

    source_ip: str = SOURCE_IP
    requests: list[Request] = field(default_factory=list)

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, headers: Mapping[str, str] | None = None, body: str | bytes = "") -> Answer:
        return self.request("POST", path, headers=headers, body=body)

    def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: str | bytes = ""
    ) -> Answer:
        parts = urlsplit(path)
        route = ROUTES.get((method, parts.path))
        if route is None:
            raise LookupError(f"tests/unit routes no {method} {parts.path}: test it in tests/http/")
        request = Request(
            method=method,
            path=parts.path,
            headers={name.lower(): value for name, value in (headers or {}).items()},
            query=Params(parse_qs(parts.query, keep_blank_values=True)),
            body=body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body,
            source_ip=self.source_ip,
        )
        self.requests.append(request)
        try:
            result = route()(request)
        except Exception as unexpected:
            error = unexpected if isinstance(unexpected, OAuthError) else services.refused_input(unexpected)
            if error is None:
                raise
            result = error.to_page() if method == "GET" else error.to_response()
        return _answer(result)

    def bind_flow(self, browser: Any) -> str:
        """What the device page does first: bind a new flow to ``browser`` (a cookie); the binding's secret."""
        cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        request = Request("GET", paths.DEVICE_VERIFICATION, {"cookie": cookies}, Params({}), source_ip=self.source_ip)
        binding = services.authorization_endpoint().bind_flow(request)
        browser._keep(list(binding.cookies))
        return binding.secret


def use_memory_core(keyset: Mapping[str, Any]) -> MemoryStateStore:
    """Every service built from now on on in-memory adapters (``services.use_adapters()`` undoes it)."""
    store = MemoryStateStore()
    services.use_adapters(
        state_store=store, client_repository=MemoryClients(), key_provider=MemoryKeys(keyset), pepper=FixedPepper()
    )
    return store
