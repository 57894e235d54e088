"""The token endpoint, RFC 6749 §3.2: authenticate the client, then hand over to its grant."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.oauth import cors
from chalicelib.oauth.client_auth import ClientAuthenticator
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import OAuthError, UnauthorizedClient, UnsupportedGrantType
from chalicelib.oauth.events import OTHER_GRANT_TYPE
from chalicelib.oauth.grants import Grant
from chalicelib.oauth.http import Response, json_response, no_store
from chalicelib.oauth.request import Request


class TokenEndpoint:
    def __init__(self, authenticator: ClientAuthenticator, grants: Mapping[str, Grant]) -> None:
        self._authenticator = authenticator
        self._grants = grants

    def handle(self, request: Request) -> Response:
        client: Client | None = None
        try:
            params = request.form()
            grant_type = params.require("grant_type")
            grant = self._grants.get(grant_type)
            request.events.grant_type = grant_type if grant is not None else OTHER_GRANT_TYPE
            client = self._authenticator.authenticate(request, params)
            if grant is None:
                raise UnsupportedGrantType("this grant_type is not supported")  # never repeated: the caller chose it
            if grant_type not in client.grant_types:
                raise UnauthorizedClient(f"client is not registered for {grant_type}")
            response = json_response(grant.exchange(client, params), headers=no_store())
            request.events.subject_kind = grant.subject_kind
        except OAuthError as error:
            response = error.to_response()
        return cors.for_client(request, response, client)
