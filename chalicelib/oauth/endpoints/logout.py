"""RP-Initiated Logout, OpenID Connect RP-Initiated Logout 1.0, at ``/oauth2/sessions/logout``.

GET (or POST from the RP) asks the person to confirm with a ``Sign out``
button (§2: the OP SHOULD ask); the confirmation POST carries a CSRF token,
ends the login session and then redirects to ``post_logout_redirect_uri``
with ``state`` — only when that URI is registered for the client, to the
letter (§3) — or shows a signed-out page.  An ``id_token_hint`` must be an
ID token this issuer signed; it may have expired (§2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from chalicelib.oauth import paths
from chalicelib.oauth.clients import Client
from chalicelib.oauth.csrf import CsrfGuard
from chalicelib.oauth.errors import InvalidRequest, OAuthError
from chalicelib.oauth.http import FORM_CONTENT_TYPE, CookiePolicy, Page, Response, redirect
from chalicelib.oauth.ports import ClientLookup, KeyProvider
from chalicelib.oauth.request import Params, Request
from chalicelib.oauth.sessions import SESSION_COOKIE, Sessions
from chalicelib.tokens import jws

ACTION = paths.LOGOUT


@dataclass(frozen=True)
class LogoutRequest:
    client: Client | None
    post_logout_redirect_uri: str | None
    state: str | None
    fields: dict[str, str]


class LogoutEndpoint:
    def __init__(
        self,
        clients: ClientLookup,
        keys: KeyProvider,
        sessions: Sessions,
        csrf: CsrfGuard,
        *,
        issuer: str,
        secure_cookies: bool,
    ) -> None:
        self._clients = clients
        self._keys = keys
        self._sessions = sessions
        self._csrf = csrf
        self._issuer = issuer
        self._cookies = CookiePolicy.for_issuer(issuer, secure=secure_cookies)

    def handle(self, request: Request) -> Response | Page:
        """GET or an RP's POST asks; a POST carrying our CSRF token confirms."""
        try:
            params = _params(request)
            logout = self._validate(params)
            if request.method == "POST" and "csrf_token" in params:
                self._csrf.verify(request, params, binding="logout")
                return self._sign_out(request, logout)
            return self._ask(request, logout)
        except OAuthError as error:
            return error.to_page()

    def _validate(self, params: Params) -> LogoutRequest:
        client_id = params.get("client_id")
        hint = params.get("id_token_hint")
        if hint is not None:
            audience = self._hinted_client(hint)
            if client_id is not None and client_id != audience:
                raise InvalidRequest("client_id does not match the id_token_hint")
            client_id = audience
        client = self._clients.find(client_id) if client_id else None
        uri = params.get("post_logout_redirect_uri")
        if uri is not None and (client is None or uri not in client.post_logout_redirect_uris):
            raise InvalidRequest("post_logout_redirect_uri is not registered for this client")
        # The confirmation form carries on only what was validated: the hint (our signature), the client
        # (registered), its redirect URI (registered) and, only beside that URI, the RP's state for it.
        state = params.get("state") if uri is not None else None
        validated = {
            "id_token_hint": hint,
            "client_id": client.client_id if client else None,
            "post_logout_redirect_uri": uri,
            "state": state,
        }
        fields = {name: value for name, value in validated.items() if value is not None}
        return LogoutRequest(client, uri, state, fields)

    def _hinted_client(self, id_token_hint: str) -> str:
        try:
            claims = jws.verify(self._keys, id_token_hint, typ="jwt", issuer=self._issuer, verify_exp=False)
        except jws.InvalidJws:
            raise InvalidRequest("id_token_hint is not an ID token from this issuer") from None
        audience = claims.get("aud")
        return str(audience[0] if isinstance(audience, list) else audience)

    def _ask(self, request: Request, logout: LogoutRequest) -> Page:
        token = self._csrf.issue(request, binding="logout")
        context: dict[str, Any] = {
            "action": self._issuer + ACTION,
            "fields": logout.fields,
            "csrf_token": token.value,
            "client_name": logout.client.client_name if logout.client else "",
        }
        if logout.post_logout_redirect_uri:
            # CSP form-action also governs the redirect after the POST (Chromium enforces it).
            context["form_action"] = [logout.post_logout_redirect_uri]
        return Page("logout", context, cookies=token.cookies)

    def _sign_out(self, request: Request, logout: LogoutRequest) -> Response | Page:
        self._sessions.end(request.cookie(self._cookies.name(SESSION_COOKIE)))
        cleared = (self._cookies.set(SESSION_COOKIE, "", max_age=0),)
        if logout.post_logout_redirect_uri is None:
            name = logout.client.client_name if logout.client else ""
            return Page("signed_out", {"client_name": name}, cookies=cleared)
        query = {"state": logout.state} if logout.state is not None else {}
        location = logout.post_logout_redirect_uri
        if query:
            location += ("&" if urlsplit(location).query else "?") + urlencode(query)
        return redirect(location, status=303, cookies=cleared)


def _params(request: Request) -> Params:
    if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
        return request.form()
    request.query.check_no_duplicates()
    return request.query
