"""Password sign-in against the built-in user store, slowed by a per-username lockout.

The default login page (``/ui/login``) calls :meth:`PasswordLogin.authenticate`.
Every failed attempt adds one to a counter in the state table keyed by the
hash of the *submitted* username, whether or not such a user exists, so the
counter, the lockout and the answers never tell a guesser which usernames
are real.  The first failure opens a window of ``window`` seconds (default
900); once ``max_failures`` (default 5) attempts inside it have failed, the
username is locked until the window ends: no password, even the right one,
is checked, so guessing stops at 5 tries per 15 minutes per username.  A
successful sign-in clears the counter.  An unknown username still pays for
one scrypt verification, so timing does not reveal it either.  A disabled
user (``users disable``) is refused exactly like a wrong password, after the
same verification, so the page never tells that an account is disabled.

The price is that anyone can lock a known username for 15 minutes (NIST SP
800-63B §5.2.2 accepts that trade); throttling by source address belongs in
front of the API (API Gateway throttling or AWS WAF rate rules).
"""

from __future__ import annotations

import time

from chalicelib.oauth.ports import StateStore, UserRepository
from chalicelib.oauth.users import User, normalize_username, spend_verification_time, verify_password
from chalicelib.tokens.opaque import digest

LOGIN_FAILURES = "login_failures"


class WrongCredentials(Exception):
    """No such username, or a wrong password: deliberately the same answer."""


class LockedOut(Exception):
    """Too many failures for this username; ``retry_after`` seconds until the window ends."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after


class PasswordLogin:
    def __init__(self, users: UserRepository, store: StateStore, *, max_failures: int, window: int) -> None:
        self._users = users
        self._store = store
        self._max_failures = max_failures
        self._window = window

    def authenticate(self, username: str, password: str) -> User:
        """The user, or ``WrongCredentials`` / ``LockedOut``."""
        key = digest(normalize_username(username))
        now = int(time.time())
        failures = self._store.find(LOGIN_FAILURES, key)
        if failures is not None and failures.counter >= self._max_failures:
            raise LockedOut(max(1, failures.expires_at - now))
        user = self._users.find_by_username(username)
        if user is None:
            spend_verification_time(password)
        elif verify_password(password, user.password_hash) and not user.disabled:
            if failures is not None:
                self._store.destroy(LOGIN_FAILURES, key)
            return user
        self._fail(key, now, failures.expires_at if failures is not None else now + self._window)
        raise WrongCredentials

    def _fail(self, key: str, now: int, window_ends: int) -> None:
        if self._store.increment(LOGIN_FAILURES, key, now + self._window) >= self._max_failures:
            raise LockedOut(max(1, window_ends - now))
