"""The device authorization endpoint, RFC 8628 §3.1–3.2: ``POST /oauth2/device/auth``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from chalicelib import clock
from chalicelib.oauth import cors, device, paths
from chalicelib.oauth.client_auth import ClientAuthenticator
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import OAuthError, ServerError, UnauthorizedClient
from chalicelib.oauth.http import Response, json_response, no_store
from chalicelib.oauth.models.device_code import DeviceCode
from chalicelib.oauth.models.stored import stored
from chalicelib.oauth.ports import StateItem, StateStore
from chalicelib.oauth.request import Params, Request
from chalicelib.oauth.scopes import resolve_audience, resolve_scope
from chalicelib.tokens import opaque
from chalicelib.tokens.hashing import digest

# A fresh user code collides with a live one about once per 10^6 requests at
# 25,000 live codes; a handful of attempts makes failure practically impossible.
_USER_CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class DeviceSettings:
    issuer: str
    ttl: int
    interval: int


class DeviceAuthorizationEndpoint:
    def __init__(self, authenticator: ClientAuthenticator, store: StateStore, settings: DeviceSettings) -> None:
        self._authenticator = authenticator
        self._store = store
        self._settings = settings

    def handle(self, request: Request) -> Response:
        client: Client | None = None
        try:
            params = request.form()
            client = self._authenticator.authenticate(request, params)
            response = self._authorize_device(client, params)
        except OAuthError as error:
            response = error.to_response()
        return cors.for_client(request, response, client)

    def _authorize_device(self, client: Client, params: Params) -> Response:
        if device.GRANT_TYPE not in client.grant_types:
            raise UnauthorizedClient("client is not registered for the device authorization grant")
        device_code = DeviceCode(
            client_id=client.client_id,
            scope=resolve_scope(params.get("scope"), client.scopes, ()),
            audience=resolve_audience(params.get_all("audience"), client.audience),
            interval=self._settings.interval,
        )
        value, user_code = self._store_codes(device_code)
        verification_uri = f"{self._settings.issuer}{paths.DEVICE_VERIFICATION}"
        shown = device.display(user_code)
        body = {
            "device_code": value,
            "user_code": shown,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?{urlencode({'user_code': shown})}",
            "expires_in": self._settings.ttl,
            "interval": self._settings.interval,
        }
        return json_response(body, headers=no_store())

    def _store_codes(self, device_code: DeviceCode) -> tuple[str, str]:
        """The device code's value and its user code, stored in one transaction with the user code's guard."""
        expires_at = int(clock.now()) + self._settings.ttl
        value = opaque.new(opaque.DEVICE_CODE)
        device_id = digest(value)
        for _ in range(_USER_CODE_ATTEMPTS):
            user_code = device.new_user_code()
            record = stored(device_code, device_id, expires_at, user_code=user_code)
            # The guard only has to exist while the code lives: keys, kind and expiry, nothing to read.
            guard = StateItem(device.USER_CODE_KIND, user_code, {}, expires_at)
            if self._store.insert_all([record, guard]):
                return value, user_code
        raise ServerError("could not allocate a unique user code")
