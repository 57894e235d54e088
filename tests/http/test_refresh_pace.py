"""REFRESH_MIN_INTERVAL on DynamoDB: parallel refreshes and what a refused one costs (the rules: tests/unit/).

In ``kms`` mode every refresh spends two ``kms:Sign`` calls of an account-wide
quota; the interval bounds what one grant can spend.  An early refresh is
refused without burning the token; a client's own parallel refreshes do not
revoke the grant; unknown or foreign values stay cheap.
"""

from __future__ import annotations

import json
import threading

import pytest

from tests.oauth_flow import introspect, refresh, token_call
from tests.unit import test_refresh_pace as unit_layer
from tests.unit.test_refresh_pace import signed_in

web_app = unit_layer.web_app  # the same client as the unit layer's pace tests (a fixture)


def test_parallel_refreshes_of_one_token_leave_the_first_pair_valid(http, web_app, frozen_clock):
    frozen_clock[0] -= 10  # signed in 10 s ago: PyJWT checks iat against the real frozen_clock
    first = signed_in(http, web_app)
    frozen_clock[0] += 10
    answers: list = []
    barrier = threading.Barrier(4)

    def racer() -> None:
        barrier.wait()
        answers.append(refresh(http, web_app, first["refresh_token"]))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [200, 400, 400, 400]
    assert {json.loads(a.body)["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}
    winner = next(json.loads(a.body) for a in answers if a.status_code == 200)
    assert introspect(http, web_app, winner["access_token"])["active"] is True
    frozen_clock[0] += 10
    assert refresh(http, web_app, winner["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("params", "calls"),
    [
        ({"grant_type": "refresh_token", "refresh_token": "tg_rt_g1.never-issued"}, {"dynamodb.UpdateItem": 1}),
        ({"grant_type": "refresh_token", "refresh_token": "not-a-tollgate-token"}, {}),
        ({"grant_type": "authorization_code", "code": "tg_ac_never-issued"}, {"dynamodb.UpdateItem": 1}),
        ({"grant_type": "authorization_code", "code": "not-a-tollgate-code"}, {}),
    ],
)
def test_an_unknown_value_costs_one_call_and_a_foreign_one_none(http, web_app, aws, params, calls):
    token_call(http, web_app, {"grant_type": "refresh_token", "refresh_token": "x"})  # warm: client, pepper
    aws.reset()
    answer = token_call(http, web_app, params)
    assert answer.status_code == 400 and json.loads(answer.body)["error"] == "invalid_grant"
    assert aws.by_operation() == calls, aws.calls
