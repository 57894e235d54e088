"""The app's Lambda functions: Chalice's name for each, and the name ``chalice deploy`` gives it.

One source for the app (``app.py``), the callers that invoke a function by
name (the CLI, key rotation) and the infrastructure code (``infra/stages.py``).
"""

from __future__ import annotations

APP_NAME = "tollgate"

API_HANDLER = "api_handler"  # every public HTTP endpoint
ADMIN = "admin"  # clients, users, keys: invoked with IAM by operators
INTERACTIONS = "interactions"  # login, consent and device challenges: invoked with IAM by a team's login app
ROTATE_KEYS = "rotate_keys"  # the only writer of signing keys
FUNCTIONS = (API_HANDLER, ADMIN, INTERACTIONS, ROTATE_KEYS)


def deployed_name(stage: str, function: str) -> str:
    """``tollgate-STAGE-FUNCTION``, as ``chalice deploy`` (and ``infra/package.py``) names a function."""
    return f"{APP_NAME}-{stage}-{function}"
