"""What a password guess costs us: every cheap check comes before scrypt, and scrypt runs a bounded number of times.

scrypt is counted by wrapping ``hashlib.scrypt`` (the standard library) with a pass-through counter;
AWS calls and writes through botocore's event hooks (the ``aws`` fixture).  Per login challenge at most
``LOGIN_CHALLENGE_MAX_ATTEMPTS`` (10) attempts reach the hash; per source address at most
``LOGIN_SOURCE_MAX_ATTEMPTS`` an hour, whatever the usernames.  Every login page test runs on both kinds of
challenge: a stored one (a team's login app, or a flow too large for a URL) and a sealed one (what
``/oauth2/auth`` gives Tollgate's own page: nothing stored until a password is posted, the attempts counted
on a small state item keyed by a digest of its id).
"""

from __future__ import annotations

import hashlib
import threading
import time
from urllib.parse import urlencode

import pytest

from chalicelib import admin, services
from chalicelib.oauth import users
from chalicelib.oauth.password_login import LockedOut, PasswordLogin, WrongCredentials
from tests.http.test_ui_pages import PASSWORD, REDIRECT_URI, Page, new_flow, sign_in

VOID = "Too many failed attempts. Start signing in again from the application."
LOCKED = "Too many failed sign-ins. Try again in"


@pytest.fixture
def scrypt_calls(monkeypatch, aws) -> list[int]:
    """Every scrypt run, counted on the standard library's function (cheap parameters, decoy hash made)."""
    monkeypatch.setattr(users, "COST", users.ScryptCost(log2_n=10, r=8, p=1))
    users._decoy_hash.cache_clear()
    users._decoy_hash()  # made once per container: not what these tests count
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    yield calls
    users._decoy_hash.cache_clear()


@pytest.fixture
def client(register):
    return register(
        client_name="Photos", redirect_uris=[REDIRECT_URI], scope="openid", grant_types=["authorization_code"]
    )


@pytest.fixture
def alice(scrypt_calls):
    answer = admin.handle({"operation": "users.create", "params": {"username": "alice", "password": PASSWORD}})
    scrypt_calls.clear()
    return answer["result"]


@pytest.fixture(params=["stored", "sealed"])
def login_page(request):
    """Opens the login page on a fresh challenge of ``client``: the page and the challenge."""
    sealed = request.param == "sealed"

    def open_page(http, client) -> tuple[Page, str]:
        challenge = services.flows().request_login(new_flow(client), sealed=sealed)
        assert challenge.startswith("s.") == sealed
        return Page(http, f"/ui/login?{urlencode({'login_challenge': challenge})}"), challenge

    return open_page


@pytest.fixture
def source(monkeypatch):
    """Set the source address of the next requests (API Gateway's ``identity.sourceIp``)."""
    from chalice.local import LambdaEventConverter

    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    return use


# --- per challenge ------------------------------------------------------------------------------


def test_the_eleventh_attempt_on_one_challenge_finds_it_void_and_runs_no_scrypt(
    http, client, alice, scrypt_calls, login_page
):
    page, challenge = login_page(http, client)
    for n in range(10):  # a new username each time: no per-username lockout stops this
        assert sign_in(page, challenge, f"guess-{n}", "wrong password").status_code == 200
    assert len(scrypt_calls) == 10
    scrypt_calls.clear()

    eleventh = sign_in(page, challenge, "alice", PASSWORD)  # even the right password
    assert eleventh.status_code == 429
    assert VOID in eleventh.body.decode() and "text/html" in eleventh.headers["Content-Type"]
    assert scrypt_calls == []
    again = http.get(page.path, headers={"Cookie": page.cookie})  # the form is gone too
    assert again.status_code == 429 and VOID in again.body.decode()
    with pytest.raises(Exception, match="Too many"):
        services.flows().login_request(challenge)

    page, challenge = login_page(http, client)  # starting again from the application works
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303


def test_the_tenth_attempt_on_one_challenge_may_still_be_the_right_password(http, client, alice, login_page):
    page, challenge = login_page(http, client)
    for n in range(9):
        assert sign_in(page, challenge, f"guess-{n}", "wrong password").status_code == 200
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303


def test_twenty_parallel_wrong_posts_on_one_challenge_reach_scrypt_at_most_ten_times(
    http, client, alice, scrypt_calls, login_page
):
    page, challenge = login_page(http, client)
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def guess(n: int) -> None:
        barrier.wait()
        statuses.append(sign_in(page, challenge, f"guess-{n}", "wrong password").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(scrypt_calls) <= 10, len(scrypt_calls)
    assert statuses.count(429) >= 10, statuses


def test_the_challenge_is_counted_in_the_write_that_reads_it(http, client, alice, aws, login_page):
    page, challenge = login_page(http, client)
    sign_in(page, challenge, "mallory", "wrong password")  # warm the client cache
    aws.reset()
    assert sign_in(page, challenge, "mallory", "wrong password").status_code == 200
    calls = aws.by_operation()
    assert "dynamodb.GetItem" not in calls, calls  # no read-then-write: the count is the read
    assert calls["dynamodb.UpdateItem"] == 4, calls  # the challenge, the source, the pair, the username


# --- per source address -------------------------------------------------------------------------


@pytest.fixture
def source_ceiling(aws, monkeypatch):
    monkeypatch.setenv("LOGIN_SOURCE_MAX_ATTEMPTS", "3")
    services.reset()


def test_a_source_past_its_ceiling_is_throttled_before_scrypt_whatever_the_username(
    source_ceiling, http, client, alice, scrypt_calls, aws, source, login_page
):
    source("203.0.113.9")
    for n in range(3):  # three usernames, three challenges: still one source
        page, challenge = login_page(http, client)
        assert sign_in(page, challenge, f"guess-{n}", "wrong password").status_code == 200
    page, challenge = login_page(http, client)
    scrypt_calls.clear()
    aws.reset()

    refused = sign_in(page, challenge, "alice", PASSWORD)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    assert LOCKED in refused.body.decode()
    assert scrypt_calls == []
    # Two writes: the challenge's count and the source's; no user lookup, no other counter.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 2}, aws.calls

    source("198.51.100.7")  # another address is not affected
    page, challenge = login_page(http, client)
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303


def test_one_ipv6_subscriber_prefix_is_one_source(aws, scrypt_calls):
    """A /64 is what one subscriber gets: rotating addresses inside it must not buy more attempts."""
    store = services.state_store()
    login = PasswordLogin(
        services.users(),
        store,
        services.pepper(),
        max_failures=5,
        max_delay=900,
        username_ceiling=100,
        source_ceiling=2,
    )
    for n in (1, 2):
        with pytest.raises(WrongCredentials):
            login.authenticate(f"guess-{n}", "wrong password", f"2001:db8:1:2::{n}")
    scrypt_calls.clear()
    with pytest.raises(LockedOut):
        login.authenticate("guess-3", "wrong password", "2001:db8:1:2:ffff::3")
    assert scrypt_calls == []
    with pytest.raises(WrongCredentials):  # the next /64 is another subscriber
        login.authenticate("guess-3", "wrong password", "2001:db8:1:3::1")


# --- order: CSRF, challenge, counters, then scrypt ------------------------------------------------


def test_a_bad_csrf_token_costs_no_aws_call_and_no_scrypt(http, client, alice, scrypt_calls, aws, login_page):
    page, challenge = login_page(http, client)
    aws.reset()
    response = page.post(csrf="forged", login_challenge=challenge, username="alice", password=PASSWORD)
    assert response.status_code == 403
    assert scrypt_calls == [] and aws.count == 0, aws.calls


def test_a_used_challenge_costs_one_refused_write_and_no_scrypt(http, client, alice, scrypt_calls, aws, login_page):
    page, challenge = login_page(http, client)
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303
    scrypt_calls.clear()
    aws.reset()
    assert sign_in(page, challenge, "mallory", "wrong password").status_code == 404
    assert scrypt_calls == []
    # Only the challenge's conditional count, refused (it writes nothing): no counter, no user lookup.
    assert aws.by_operation() == {"dynamodb.UpdateItem": 1}, aws.calls


def test_an_empty_password_is_neither_counted_nor_hashed(http, client, alice, scrypt_calls, login_page):
    page, challenge = login_page(http, client)
    for _ in range(12):
        assert sign_in(page, challenge, "alice", "").status_code == 200
    assert scrypt_calls == []
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 303


def test_a_refused_accept_puts_the_challenge_back_with_its_count(http, client, alice, login_page):
    """An answer the flow refuses (here an auth_time in the future) reopens the challenge, attempts and all."""
    from chalicelib import headless

    page, challenge = login_page(http, client)
    for n in range(10):
        assert sign_in(page, challenge, f"guess-{n}", "wrong password").status_code == 200
    future = int(time.time()) + 3600
    params = {"login_challenge": challenge, "subject": alice["user_id"], "auth_time": future}
    assert headless.handle({"operation": "login.accept", "params": params})["error"] == "invalid_request"
    assert sign_in(page, challenge, "alice", PASSWORD).status_code == 429
