"""Tollgate: an OAuth 2.0 / OpenID Connect authorization server on AWS serverless.

This file is the table of contents: every public endpoint is a blueprint in
``chalicelib/web/routes``, and every other Lambda function is listed here.
Importing it creates no AWS client and loads no key.
"""

from chalice import Chalice

from chalicelib.web import adapter
from chalicelib.web.routes import authorize, introspect, revoke, token, ui_consent, ui_login, userinfo, well_known

app = Chalice(app_name="tollgate")
app.register_middleware(adapter.security_headers, "http")

# Discovery and keys: /.well-known/openid-configuration, oauth-authorization-server, jwks.json
app.register_blueprint(well_known.bp)
# RFC 6749 / OIDC authorization endpoint: /oauth2/auth
app.register_blueprint(authorize.bp)
# RFC 6749 token endpoint: /oauth2/token
app.register_blueprint(token.bp)
# RFC 7662 introspection: /oauth2/introspect
app.register_blueprint(introspect.bp)
# RFC 7009 revocation: /oauth2/revoke
app.register_blueprint(revoke.bp)
# OIDC Core §5.3 UserInfo: /userinfo
app.register_blueprint(userinfo.bp)
# Default login and consent pages (DESIGN §4): /ui/login, /ui/consent
app.register_blueprint(ui_login.bp)
app.register_blueprint(ui_consent.bp)


@app.lambda_function(name="admin")
def admin(event, context):  # type: ignore[no-untyped-def]
    """Client (and later user, key, login/consent) administration; invoked with IAM only."""
    from chalicelib.admin import handle

    return handle(event)
