"""Every route's path, written once: the blueprints register them and the core builds URLs from them.

DESIGN.md's "Paths" table is the contract; discovery, the redirects between
the authorization endpoint and the login, consent and device pages, and the
default ``LOGIN_URL``/``CONSENT_URL``/``DEVICE_URL`` all read these.
"""

from __future__ import annotations

AUTHORIZATION = "/oauth2/auth"
TOKEN = "/oauth2/token"
USERINFO = "/userinfo"
LOGOUT = "/oauth2/sessions/logout"
INTROSPECTION = "/oauth2/introspect"
REVOCATION = "/oauth2/revoke"
DEVICE_AUTHORIZATION = "/oauth2/device/auth"
DEVICE_VERIFICATION = "/oauth2/device/verify"  # Tollgate's own device page, RFC 8628's verification_uri
LOGIN_PAGE = "/ui/login"
CONSENT_PAGE = "/ui/consent"
JWKS = "/.well-known/jwks.json"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"
AUTHORIZATION_SERVER_METADATA = "/.well-known/oauth-authorization-server"  # RFC 8414
