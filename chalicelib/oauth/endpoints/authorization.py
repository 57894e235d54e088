"""The authorization endpoint, ``GET /oauth2/auth``.

RFC 6749 §4.1.1–4.1.2, RFC 7636 §4.3, RFC 9207 (``iss`` on every response),
OpenID Connect Core §3.1.2.  The endpoint is entered three ways:

- a client's authorization request: validate it, then either answer from the
  browser's login session and remembered consent, or hand the person to the
  login app with a ``login_challenge``;
- ``login_verifier``: the login app is done; hand over to the consent app
  with a ``consent_challenge`` unless consent is already given;
- ``consent_verifier``: the consent app is done; issue the code.

Until the client and redirect URI are known to be genuine, errors are shown
as a page and never redirected (§4.1.2.1, RFC 9700 §4.1).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from chalicelib import clock
from chalicelib.oauth import paths, pkce, redirect_uris
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import (
    ConsentRequired,
    ExpiredToken,
    InvalidRequest,
    LoginRequired,
    NotFound,
    OAuthError,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
    error_redirect,
    with_query,
)
from chalicelib.oauth.flow_cookies import FlowBinding, FlowCookies
from chalicelib.oauth.flows import Flows
from chalicelib.oauth.grants import device_code
from chalicelib.oauth.grants.authorization_code import store_code, user_grant
from chalicelib.oauth.grants.base import GrantDependencies
from chalicelib.oauth.grants.issuance import new_grant_id
from chalicelib.oauth.http import CookiePolicy, Page, Response, redirect
from chalicelib.oauth.models.interaction import Authentication, AuthorizationRequest, Consent, Interaction, Rejection
from chalicelib.oauth.models.session import Session
from chalicelib.oauth.ports import ClientLookup
from chalicelib.oauth.request import Params, Request, check_text
from chalicelib.oauth.scopes import resolve_audience, resolve_scope
from chalicelib.oauth.sessions import SESSION_COOKIE, Sessions

PROMPTS = frozenset({"none", "login", "consent", "select_account"})


@dataclass(frozen=True)
class AuthorizationSettings:
    issuer: str
    login_url: str
    consent_url: str
    code_ttl: int
    secure_cookies: bool

    @property
    def own_login_page(self) -> bool:
        """Whether ``LOGIN_URL`` is Tollgate's own login page (the default)."""
        return self.login_url == f"{self.issuer}{paths.LOGIN_PAGE}"


_LINK_USED = "This sign-in link has expired or was already used."


class AuthorizationEndpoint:
    def __init__(
        self,
        clients: ClientLookup,
        flows: Flows,
        sessions: Sessions,
        grants: GrantDependencies,
        settings: AuthorizationSettings,
    ) -> None:
        self._clients = clients
        self._flows = flows
        self._sessions = sessions
        self._grants = grants
        self._settings = settings
        self._cookies = CookiePolicy.for_issuer(settings.issuer, secure=settings.secure_cookies)
        self._flow_cookies = FlowCookies(self._cookies, max_age=flows.challenge_ttl)

    def handle(self, request: Request) -> Response | Page:
        query = request.query
        try:
            self._check_session_cookie(request)
            if "login_verifier" in query:
                return self._after_login(request, query.require("login_verifier"))
            if "consent_verifier" in query:
                return self._after_consent(request, query.require("consent_verifier"))
        except NotFound:
            return InvalidRequest(_LINK_USED).to_page()
        except OAuthError as error:
            return error.to_page()
        return self._start(request)

    def _check_session_cookie(self, request: Request) -> None:
        """Refuse a planted second session cookie here, as a page, before anything could redirect."""
        self._session_cookie_value(request)

    # -- a client's authorization request -------------------------------------------

    def _start(self, request: Request) -> Response | Page:
        query = request.query
        try:
            client = self._client(query.get("client_id"))
            redirect_uri = redirect_uris.resolve(query.get("redirect_uri"), client.redirect_uris)
        except (OAuthError, LookupError) as error:
            return InvalidRequest(str(error)).to_page()
        if redirect_uri is None:
            return InvalidRequest("The redirect_uri is not registered for this client.").to_page()
        request.events.client_id = client.client_id  # genuine: registered, and its redirect URI matches
        state = _first(query, "state")
        try:
            authorization = self._validate(client, query, redirect_uri)
            return self._authorize(request, client, authorization)
        except OAuthError as error:
            return self._error_redirect(redirect_uri, error, state)

    def _client(self, client_id: str | None) -> Client:
        if client_id is None:
            raise LookupError("The request has no client_id.")
        client = self._clients.find(client_id)
        if client is None:
            raise LookupError("The client is not registered.")
        return client

    def _validate(self, client: Client, query: Params, redirect_uri: str) -> AuthorizationRequest:
        query.check_all()  # every parameter, even one we ignore, before anything is looked at or kept
        _check_response_type(query.get("response_type"))
        if "request" in query:
            raise RequestNotSupported("request objects are not supported")
        if "request_uri" in query:
            raise RequestUriNotSupported("request_uri is not supported")
        if query.get("response_mode") not in (None, "query"):
            raise InvalidRequest("only response_mode=query is supported")
        if "authorization_code" not in client.grant_types:
            raise UnauthorizedClient("client is not registered for the authorization code grant")
        pkce.check_challenge(
            query.get("code_challenge"),
            query.get("code_challenge_method"),
            required=client.is_public or client.require_pkce,
        )
        return AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_given=query.get("redirect_uri") is not None,
            scope=resolve_scope(query.get("scope"), client.scopes, ()),
            audience=resolve_audience(query.get_all("audience"), client.audience),
            state=query.get("state"),
            nonce=query.get("nonce"),
            code_challenge=query.get("code_challenge"),
            code_challenge_method=query.get("code_challenge_method"),
            prompt=_prompt(query.get("prompt")),
            max_age=_max_age(query.get("max_age")),
            acr_values=tuple((query.get("acr_values") or "").split()),
            sealed_login_hint=self._flows.seal_login_hint(query.get("login_hint")),
            ui_locales=tuple((query.get("ui_locales") or "").split()),
        )

    def _authorize(self, request: Request, client: Client, authorization: AuthorizationRequest) -> Response | Page:
        binding = self.bind_flow(request)
        flow = self._flows.new_flow(authorization, binding.secret)
        return self._proceed(request, client, flow, binding.cookies)

    def _proceed(self, request: Request, client: Client, flow: Interaction, cookies: tuple[str, ...]) -> Response:
        """Login (unless the browser's session will do), then consent (unless already given)."""
        authorization = flow.request
        session = self._usable_session(request, authorization)
        if session is None and "none" in authorization.prompt:
            raise LoginRequired("the person is not signed in")
        authentication = None
        if session is not None:
            authentication = Authentication(
                subject=session.subject,
                auth_time=session.auth_time,
                acr=session.acr,
                amr=session.amr,
                sid=session.sid,
            )
        # Tollgate's own page would only accept the session (its skip branch), and
        # prompt=none may show no login UI: answer from the session at once.  A
        # team's own login app is asked, told it may skip (Hydra's contract), so
        # it can still refuse a person its user system has since disabled.
        if authentication is not None and (self._settings.own_login_page or "none" in authorization.prompt):
            return self._consent_step(client, replace(flow, authentication=authentication), cookies)
        # Tollgate's own page gets the flow sealed in its challenge: nothing is stored before
        # someone signs in.  A team's login app reads a stored one through ``login get``.
        challenge = self._flows.request_login(
            replace(flow, session=authentication), sealed=self._settings.own_login_page
        )
        return redirect(with_query(self._settings.login_url, {"login_challenge": challenge}), cookies=cookies)

    def _usable_session(self, request: Request, authorization: AuthorizationRequest) -> Session | None:
        """The login session, unless the client asked for a fresh login (prompt=login, max_age) or a
        stronger one: a session whose ``acr`` is not among ``acr_values`` is not reused (OIDC Core
        §3.1.2.1, §5.5.1.1), so the person signs in again as asked (or prompt=none: login_required)."""
        if "login" in authorization.prompt or "select_account" in authorization.prompt:
            return None
        session = self._sessions.find(self._session_cookie_value(request))
        if session is None:
            return None
        max_age = authorization.max_age
        if max_age is not None and clock.now() - session.auth_time > max_age:
            return None
        if authorization.acr_values and session.acr not in authorization.acr_values:
            return None
        return session

    def _session_cookie_value(self, request: Request) -> str | None:
        return request.cookie(self._cookies.name(SESSION_COOKIE))

    # -- back from the login app -------------------------------------------------------

    def _after_login(self, request: Request, verifier: str) -> Response | Page:
        flow = self._flows.redeem_login_verifier(verifier)
        client = self._returning(request, flow)
        if isinstance(client, Page):
            return client
        authorization = flow.request
        if flow.rejection is not None or flow.authentication is None:
            return self._rejected(flow)
        cookies: tuple[str, ...] = ()
        authentication = flow.authentication
        if flow.session is None:  # a new login, not the session going on (Hydra's skip)
            cookies = self._end_superseded_session(request)
        if authentication.remember:
            value, session = self._sessions.start(authentication)
            cookies = (self._session_cookie(value, authentication),)
            authentication = replace(authentication, sid=session.sid)
        elif not authentication.sid:  # a skipped login keeps its session's sid
            authentication = replace(authentication, sid=secrets.token_urlsafe(16))
        try:
            return self._consent_step(client, replace(flow, authentication=authentication), cookies)
        except OAuthError as error:
            return self._error_redirect(authorization.redirect_uri, error, authorization.state)

    def _consent_step(self, client: Client, flow: Interaction, cookies: tuple[str, ...]) -> Response:
        authorization, authentication = flow.request, flow.authentication
        assert authentication is not None
        consent = None
        # A device is always confirmed on a page naming the client (RFC 8628 §5.4):
        # a phished user code must not connect silently through SSO and standing consent.
        if "consent" not in authorization.prompt and authorization.device_code_id is None:
            consent = self._standing_consent(client, authentication.subject, authorization)
        if consent is not None:
            return self._issue_code(replace(flow, consent=consent), cookies)
        if "none" in authorization.prompt:
            raise ConsentRequired("the person has not consented to this client")
        challenge = self._flows.request_consent(flow)
        location = with_query(self._settings.consent_url, {"consent_challenge": challenge})
        return redirect(location, cookies=cookies)

    def _standing_consent(self, client: Client, subject: str, authorization: AuthorizationRequest) -> Consent | None:
        if client.skip_consent:
            return Consent(grant_scope=authorization.scope, grant_access_token_audience=authorization.audience)
        return self._sessions.remembered_consent(subject, client.client_id, authorization.scope, authorization.audience)

    # -- back from the consent app -------------------------------------------------

    def _after_consent(self, request: Request, verifier: str) -> Response | Page:
        flow = self._flows.redeem_consent_verifier(verifier)
        client = self._returning(request, flow)
        if isinstance(client, Page):
            return client
        if flow.rejection is not None or flow.consent is None or flow.authentication is None:
            return self._rejected(flow)
        if flow.consent.remember:
            self._sessions.remember_consent(flow.authentication.subject, flow.request.client_id, flow.consent)
        return self._issue_code(flow, ())

    # -- the device flow (RFC 8628 §3.3) ------------------------------------------------

    def resume_device(self, request: Request, verifier: str) -> Response | Page:
        """Back from the device app with a ``device_verifier``: sign in like a browser client, then always consent."""
        try:
            self._check_session_cookie(request)
            flow = self._flows.redeem_device_verifier(verifier)
            client = self._returning(request, flow)
        except NotFound:
            return InvalidRequest(_LINK_USED).to_page()
        except OAuthError as error:
            return error.to_page()
        if isinstance(client, Page):
            return client
        try:
            return self._proceed(request, client, flow, ())
        except OAuthError as error:
            return self._error_redirect(flow.request.redirect_uri, error, None)

    def _settle_device(self, flow: Interaction, cookies: tuple[str, ...]) -> Response:
        assert flow.request.device_code_id is not None
        grant = user_grant(flow, new_grant_id(), self._grants.grant_ttl)
        if not device_code.answer(self._grants.store, flow.request.device_code_id, grant):
            expired = ExpiredToken()
            return redirect(with_query(flow.request.redirect_uri, expired.body()), cookies=cookies, error=expired.error)
        return redirect(with_query(flow.request.redirect_uri, {"device": "connected"}), cookies=cookies)

    # -- answers ---------------------------------------------------------------------

    def _issue_code(self, flow: Interaction, cookies: tuple[str, ...]) -> Response:
        if flow.request.device_code_id is not None:
            return self._settle_device(flow, cookies)
        code = store_code(self._grants, flow, new_grant_id(), self._settings.code_ttl)
        params = {"code": code, "iss": self._settings.issuer}
        if flow.request.state is not None:
            params["state"] = flow.request.state
        return redirect(with_query(flow.request.redirect_uri, params), cookies=cookies)

    def _rejected(self, flow: Interaction) -> Response:
        rejection = flow.rejection or Rejection()
        if flow.request.device_code_id is not None:
            device_code.answer(self._grants.store, flow.request.device_code_id, None)
        body = {"error": rejection.error}  # the login or consent app's code, passed on as it chose it
        if rejection.error_description:
            body["error_description"] = rejection.error_description
        return error_redirect(flow.request.redirect_uri, body, issuer=self._settings.issuer, state=flow.request.state)

    def _error_redirect(self, redirect_uri: str, error: OAuthError, state: str | None) -> Response:
        return error.to_redirect(redirect_uri, issuer=self._settings.issuer, state=state)

    def _returning(self, request: Request, flow: Interaction) -> Client | Page:
        """The flow's client, if the verifier came back to the browser that started the flow."""
        if not self._flow_cookies.matches(request, flow.csrf_hash):
            return InvalidRequest("This sign-in was started in another browser.").to_page(status=403)
        client = self._clients.find(flow.request.client_id)
        if client is None:
            return InvalidRequest("The client is not registered.").to_page()
        request.events.client_id = client.client_id
        return client

    def bind_flow(self, request: Request) -> FlowBinding:
        """A new flow's cookie, binding it to this browser (the authorization endpoint and the device page)."""
        return self._flow_cookies.start(request)

    def _session_cookie(self, value: str, authentication: Authentication) -> str:
        """Persistent for the session's lifetime, or a browser-session cookie (RFC 6265 §4.1.2: no Max-Age)."""
        max_age = self._sessions.lifetime(authentication) if authentication.persistent else None
        return self._cookies.set(SESSION_COOKIE, value, max_age=max_age)

    def _end_superseded_session(self, request: Request) -> tuple[str, ...]:
        """A new login ends the browser's previous session (OWASP: renew the session on login, so a
        value someone else knows or planted dies) and, unless a new one replaces it, clears its cookie."""
        previous = self._session_cookie_value(request)
        if not previous:
            return ()
        self._sessions.end(previous)
        return (self._cookies.set(SESSION_COOKIE, "", max_age=0),)


def _first(query: Params, name: str) -> str | None:
    """``name``'s value if it may be echoed (in length, no control character), else None."""
    try:
        value = query.get(name)
        return check_text(name, value) if value is not None else None
    except OAuthError:
        return None


def _check_response_type(response_type: str | None) -> None:
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        # The implicit and hybrid flows (token, id_token, code id_token, ...) are not offered (RFC 9700 §2.1.2).
        raise UnsupportedResponseType("only response_type=code is supported")


def _prompt(value: str | None) -> tuple[str, ...]:
    prompts = tuple((value or "").split())
    if not set(prompts) <= PROMPTS:
        raise InvalidRequest(f"prompt may only be {', '.join(sorted(PROMPTS))}")
    if "none" in prompts and len(prompts) > 1:
        # OIDC Core §3.1.2.1: none must stand alone.
        raise InvalidRequest("prompt=none cannot be combined with other values")
    return prompts


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    # ASCII digits only: str.isdigit() also passes "²", which int() refuses (a 500); 10 digits are 300 years.
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        raise InvalidRequest("max_age must be a non-negative integer of at most 10 digits")
    return int(value)
