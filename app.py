"""Tollgate: an OAuth 2.0 / OpenID Connect authorization server on AWS serverless.

This file is the table of contents: every public endpoint is a blueprint in
``chalicelib/web/routes``, and every other Lambda function is listed here.
Importing it creates no AWS client and loads no key.
"""

from chalicelib import preflight
from chalicelib.config import settings
from chalicelib.functions import ADMIN, APP_NAME, INTERACTIONS, ROTATE_KEYS
from chalicelib.web import middleware, observability
from chalicelib.web.dispatch import Tollgate
from chalicelib.web.routes import (
    authorize,
    device,
    introspect,
    logout,
    revoke,
    token,
    ui_consent,
    ui_login,
    userinfo,
    well_known,
)

# `chalice deploy`/`package` before `make infra` stops here with one line; a package without PynamoDB says so once.
preflight.check()

# Chalice, with a warm request dispatched without its per-request handler chain (chalicelib/web/dispatch.py).
# Logs are JSON lines (chalicelib/web/observability.py), not Chalice's plain-text handler.
app = Tollgate(app_name=APP_NAME, configure_logs=False)
# Tollgate answers JSON, forms and HTML only: no binary media types, so API Gateway never base64-encodes a body
# and Chalice does not match every request's and response's content type against sixteen of them (issue 13).
app.api.binary_types = []
# Security headers, one log line and the metrics of every request (one middleware: each costs CPU per request);
# one log line and the metrics of every admin or login-app operation and key rotation; never a secret.
app.register_middleware(middleware.http, "http")
app.register_middleware(observability.admin_middleware, "pure_lambda")
app.register_middleware(observability.schedule_middleware, "scheduled")

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
# RFC 8628 device flow: /oauth2/device/auth, /oauth2/device/verify
app.register_blueprint(device.bp)
# OIDC RP-Initiated Logout: /oauth2/sessions/logout
app.register_blueprint(logout.bp)
# Default login and consent pages (DESIGN §4): /ui/login, /ui/consent
app.register_blueprint(ui_login.bp)
app.register_blueprint(ui_consent.bp)


@app.lambda_function(name=ADMIN)
def admin(event, context):  # type: ignore[no-untyped-def]
    """Client, user and key administration; invoked with IAM only, by operators."""
    from chalicelib.admin import handle

    return handle(event)


@app.lambda_function(name=INTERACTIONS)
def interactions(event, context):  # type: ignore[no-untyped-def]
    """Login, consent and device challenges answered by a team's own login app (DESIGN §4); invoked with IAM only."""
    from chalicelib.headless import handle

    return handle(event)


@app.schedule(settings().key_rotation_schedule, name=ROTATE_KEYS)
def rotate_keys(event):  # type: ignore[no-untyped-def]
    """Signing-key rotation on KEY_ROTATION_SCHEDULE (default 30 days); the only writer of keys (DESIGN §8)."""
    from chalicelib.keys.rotation import handle

    return handle(event.detail)
