"""REFRESH_MIN_INTERVAL: one refresh per grant per interval, refused in the consuming write itself.

In ``kms`` mode every refresh spends two ``kms:Sign`` calls of an account-wide
quota; the interval bounds what one grant can spend.  An early refresh is
refused without burning the token, and a replay after the interval is still
reuse.  On the core alone (tests/unit/core.py); parallel refreshes on DynamoDB
and what a refused one costs: tests/http/test_refresh_pace.py.
"""

from __future__ import annotations

import json

import pytest

from tests.oauth_flow import introspect, refresh, signed_in_tokens

SCOPE = "openid offline_access profile"


@pytest.fixture
def web_app(register):
    from tests.oauth_flow import REDIRECT_URI

    return register(grant_types=["authorization_code", "refresh_token"], redirect_uris=[REDIRECT_URI], scope=SCOPE)


def signed_in(http, client) -> dict:
    return signed_in_tokens(http, client, SCOPE)


def test_a_refresh_within_the_interval_is_refused_and_the_token_stays_valid(http, web_app, frozen_clock):
    first = signed_in(http, web_app)
    early = refresh(http, web_app, first["refresh_token"])
    assert early.status_code == 400 and early.headers["Retry-After"] == "10"
    error = json.loads(early.body)
    assert error["error"] == "invalid_grant" and "stays valid" in error["error_description"]
    assert introspect(http, web_app, first["access_token"])["active"] is True  # nothing was revoked
    frozen_clock[0] += 10
    second = refresh(http, web_app, first["refresh_token"])
    assert second.status_code == 200, second.body
    assert refresh(http, web_app, json.loads(second.body)["refresh_token"]).status_code == 400  # its own interval


def test_a_rotated_token_replayed_after_the_interval_still_revokes_the_grant(http, web_app, frozen_clock):
    frozen_clock[0] -= 20  # signed in 20 s ago: PyJWT checks iat against the real frozen_clock
    first = signed_in(http, web_app)
    frozen_clock[0] += 10
    second = json.loads(refresh(http, web_app, first["refresh_token"]).body)
    frozen_clock[0] += 10
    assert json.loads(refresh(http, web_app, first["refresh_token"]).body)["error"] == "invalid_grant"
    assert json.loads(refresh(http, web_app, second["refresh_token"]).body)["error"] == "invalid_grant"
    assert introspect(http, web_app, second["access_token"]) == {"active": False}
