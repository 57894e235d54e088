"""Password sign-in against the built-in user store, with throttling that cannot be raced or abused.

The default login page (``/ui/login``) calls :meth:`PasswordLogin.authenticate`
with the submitted username and the request's source address.  Every attempt
is counted *before* the password is checked, each count one atomic write
(:meth:`StateStore.increment`), so parallel requests cannot slip past a
limit they all read as not yet reached (NIST SP 800-63B §5.2.2: limit failed
attempts; OWASP Authentication Cheat Sheet: throttle per account and source).
Counters are keyed by HMACs (under the pepper: :mod:`~chalicelib.oauth.person_keys`)
of the *submitted* username, whether or not such a user exists, so counts, delays and answers never tell a guesser which
usernames are real; an unknown username still pays for one scrypt
verification, so timing does not tell either.
A disabled user (``users disable``) is refused exactly like a wrong
password, after the same verification, so the page never tells that an
account is disabled.  A name no user can have (``users.possible_username``)
is refused the same way at once: counting it would protect no account.

- Per (username, source address): ``max_failures`` attempts (default 5)
  in a row; from the last of them on, each attempt must first take a delay
  slot that blocks the pair for 2, 4, 8... seconds (doubling with every
  attempt counted, refused ones too, up to ``max_delay``, default 900).  A
  success clears the pair.  One address guessing one username gets about 16
  tries an hour, and it never locks out the person signing in elsewhere.
- Per source address, whatever the username: ``source_ceiling`` attempts
  (default 100) in an hour, counted first, so a guesser who changes
  username every time (each fresh pair free of delays) still buys at most
  that many scrypt runs an hour per address.  An IPv6 address counts by its
  /64, what one subscriber is given: rotating inside it buys nothing.
- Per username, from every address: ``username_ceiling`` attempts (default
  100) in an hour that passed their pair's check, then the username is
  locked for the rest of that hour.  Only a guesser spread over many
  addresses reaches it; it is what caps a distributed attack.

Counters live ``WINDOW`` seconds from their first count.
"""

from __future__ import annotations

import ipaddress

from chalicelib import clock
from chalicelib.oauth.models.counter import Counter, LoginAttempts, LoginDelay
from chalicelib.oauth.person_keys import LOGIN_PAIR, LOGIN_SOURCE, LOGIN_USERNAME, PersonKeys
from chalicelib.oauth.ports import Pepper, StateStore, UserRepository
from chalicelib.oauth.users import (
    User,
    normalize_username,
    possible_username,
    spend_verification_time,
    verify_password,
)

LOGIN_ATTEMPTS = LoginAttempts.KIND  # counters: per source, per (username, source) and per username
LOGIN_DELAY = LoginDelay.KIND  # the slot a pair past its free attempts must take; lives for the delay
WINDOW = 3600
SOURCE_CEILING = 100  # attempts per source address per WINDOW (LOGIN_SOURCE_MAX_ATTEMPTS)
IPV6_SUBSCRIBER_PREFIX = 64  # RFC 6177: an end site gets a /64 or more


class WrongCredentials(Exception):
    """No such username, or a wrong password: deliberately the same answer."""


class LockedOut(Exception):
    """Too many attempts; ``retry_after`` seconds (at most) until the next one is checked."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after


class PasswordLogin:
    def __init__(
        self,
        users: UserRepository,
        store: StateStore,
        pepper: Pepper,
        *,
        max_failures: int,
        max_delay: int,
        username_ceiling: int,
        source_ceiling: int = SOURCE_CEILING,
    ) -> None:
        self._users = users
        self._store = store
        self._key = PersonKeys(pepper)
        self._max_failures = max_failures
        self._max_delay = max_delay
        self._username_ceiling = username_ceiling
        self._source_ceiling = source_ceiling

    def authenticate(self, username: str, password: str, source: str) -> User:
        """The user, or ``WrongCredentials`` / ``LockedOut``; the attempt is counted before any check."""
        if not possible_username(username):
            # No user can have this name (over 128 characters, control characters): the same answer, at once,
            # with nothing to count and no lookup (DynamoDB refuses a key over 2 KiB; its Query would be a 500).
            raise WrongCredentials
        name, source = normalize_username(username), source_block(source)
        pair = self._key(LOGIN_PAIR, source, name)
        attempts = self._admit(self._key(LOGIN_SOURCE, source), pair, self._key(LOGIN_USERNAME, name))
        user = self._users.find_by_username(username)
        if user is None:
            spend_verification_time(password)
        elif verify_password(password, user.password_hash) and not user.disabled:
            self._forget(pair, attempts)
            return user
        raise WrongCredentials

    def _admit(self, source: str, pair: str, username: str) -> int:
        """Count this attempt on each counter that applies; ``LockedOut`` if one is past its limit.

        The source first: past its ceiling nothing else is written.  The pair's count, this attempt included.
        """
        now = int(clock.now())
        if not self._count(LoginAttempts(self._source_ceiling, WINDOW), source, now):
            raise LockedOut(WINDOW)
        per_pair = LoginAttempts(self._max_failures, WINDOW)
        attempts = per_pair.attempt(per_pair.count(self._store, pair, now))
        delay = LoginDelay(1, self._delay(attempts - self._max_failures + 1))  # one attempt for the delay
        # Taking the slot is one conditional write: of racing attempts exactly one gets it.
        if attempts >= self._max_failures and not self._count(delay, pair, now):
            raise LockedOut(self._delay(attempts - self._max_failures))
        if not self._count(LoginAttempts(self._username_ceiling, WINDOW), username, now):
            raise LockedOut(WINDOW)
        return attempts

    def _count(self, counter: Counter, key: str, now: int) -> bool:
        """Count this attempt on ``counter``'s item for ``key`` (one atomic write): whether it is within the limit."""
        return counter.allows(counter.count(self._store, key, now))

    def _forget(self, pair: str, attempts: int) -> None:
        """A success clears the pair's attempts (its own included) and, if it took one, its delay slot."""
        self._store.destroy(LOGIN_ATTEMPTS, pair)
        if attempts >= self._max_failures:
            self._store.destroy(LOGIN_DELAY, pair)

    def _delay(self, step: int) -> int:
        return min(self._max_delay, 2 ** min(step, 30))


def source_block(address: str) -> str:
    """The unit a source address is counted by: an IPv4 address itself, an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not from API Gateway's sourceIp; counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_SUBSCRIBER_PREFIX), strict=False))
    return str(ip)
