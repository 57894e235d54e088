"""The table of scenarios: one row of ``make bench`` each.

A scenario's ``requests`` is a small generator: between two ``yield``\\ s it
prepares what the next request needs (a client, a token to introspect, a
code to exchange) through :class:`~bench.world.World`'s helpers, untimed and
uncounted; then it yields the API Gateway event whose handling is timed and
counted.

``floor`` is the fewest AWS calls a warm container can spend on one such
request without giving up a guarantee; the bench prints what it counts next
to it, and ``tests/http/test_bench.py`` holds the two equal.

Rows land with their endpoints: a scenario for an endpoint that does not
exist yet is simply absent.  The eight requests of a sign-in through the
default pages are rows too (:class:`bench.browser.SignIn` plays the steps
before any one of them), named in ``bench.cost.SIGN_IN_STEPS`` so the cost
model prices a whole sign-in.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from bench import browser
from bench.world import ISSUER, Answer, Event, World

Requests = Callable[[World], Iterator[Event]]
Check = Callable[[Answer], bool]


def status(code: int) -> Check:
    return lambda answer: answer.status == code


def ok(answer: Answer) -> bool:
    return answer.status == 200


def oauth_error(code: str) -> Check:
    return lambda answer: answer.status == 400 and isinstance(answer.body, dict) and answer.body.get("error") == code


def active_token(answer: Answer) -> bool:
    return answer.status == 200 and answer.body.get("active") is True


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoint: str
    floor: int
    requests: Requests
    check: Check = ok
    # Settings a container needs for this row (read once per container, like in Lambda).
    env: Mapping[str, str] = field(default_factory=dict)
    # Report sustained tokens per second on one core (goal: 1,200 for RS256).
    tokens_per_second: bool = False
    # Fewer timed requests for a row that is slow by design (a password hash) ...
    max_samples: int | None = None
    # ... and why its overhead ratio is not held to the goal.
    slow_by_design: str = ""
    # What an attacker does, for a row that prices abuse (bench.cost.abuse_table): each request from a
    # new address, so no per-address limit turns it into a cheaper refusal (the worst case per request).
    abuse: str = ""


# --------------------------------------------------------------------------- requests


def client_credentials(strategy: str) -> Requests:
    def requests(world: World) -> Iterator[Event]:
        client = world.client(strategy)
        while True:
            yield world.post("/oauth2/token", {"grant_type": "client_credentials"}, client)

    return requests


def introspection(strategy: str) -> Requests:
    def requests(world: World) -> Iterator[Event]:
        client = world.client(strategy)
        token = world.token(client)
        while True:
            yield world.post("/oauth2/introspect", {"token": token}, client)

    return requests


def revocation(strategy: str) -> Requests:
    """A fresh live token each time: revoking a revoked one is a different (cheaper) path."""

    def requests(world: World) -> Iterator[Event]:
        client = world.client(strategy)
        while True:
            yield world.post("/oauth2/revoke", {"token": world.token(client)}, client)

    return requests


def sign_in_step(step: str) -> Requests:
    """One request of a sign-in: a :class:`~bench.browser.SignIn` method answering a URL to GET or a form event."""

    def requests(world: World) -> Iterator[Event]:
        client, someone = browser.web_client(world), browser.person(world)
        while True:
            sign_in = browser.SignIn(world, client, someone)
            target = getattr(sign_in, step)()
            yield sign_in.browser.event(target) if isinstance(target, str) else target

    return requests


def code_exchange(world: World) -> Iterator[Event]:
    """A new sign-in for every exchange: a code is good once."""
    client, someone = browser.web_client(world), browser.person(world)
    while True:
        code, verifier = browser.sign_in(world, client, someone)
        yield world.post("/oauth2/token", browser.code_exchange_params(code, verifier), client)


def refresh(world: World) -> Iterator[Event]:
    """A new sign-in's refresh token each time: a used one is rotated away, and reusing it revokes the grant."""
    client, someone = browser.web_client(world), browser.person(world)
    while True:
        refresh_token = browser.signed_in_tokens(world, client, someone)["refresh_token"]
        yield world.post("/oauth2/token", {"grant_type": "refresh_token", "refresh_token": refresh_token}, client)


def userinfo(world: World) -> Iterator[Event]:
    client, someone = browser.web_client(world), browser.person(world)
    access_token = browser.signed_in_tokens(world, client, someone)["access_token"]
    while True:
        yield world.bearer_get("/userinfo", access_token)


def device_poll(world: World) -> Iterator[Event]:
    """A device's first poll of a fresh code: nobody has answered, and it is not too early to ask."""
    client = browser.device_client(world)
    while True:
        params = {"grant_type": browser.DEVICE_CODE_GRANT, "device_code": browser.device_code(world, client)}
        yield world.post("/oauth2/token", params, client)


def anonymous_authorization(world: World) -> Iterator[Event]:
    """One valid client's authorization URL replayed without a session (its login flow sealed: nothing stored)."""
    url = browser.SignIn(world, browser.web_client(world), browser.person(world)).authorize_url()
    while True:
        yield world.from_new_address(browser.Browser(world).event(url))


def junk_device_code(world: World) -> Iterator[Event]:
    """A well-formed user code nobody was given, on a fresh verification page (its challenge has tries left)."""
    from chalicelib.oauth import device

    while True:
        page = browser.Browser(world)
        fields = browser.hidden_inputs(page.get(f"{ISSUER}/oauth2/device/verify"))
        form = {**fields, "user_code": device.display(device.new_user_code())}  # 1 in 20^8 is a real one
        yield world.from_new_address(page.form_event("/oauth2/device/verify", form))


def failed_login(world: World) -> Iterator[Event]:
    """Credential stuffing: another username and a wrong password each time, on a fresh login page.

    Unknown usernames cost the same scrypt as known ones (by design); a new
    username, address and challenge per attempt stays under every per-username,
    per-address and per-challenge limit.
    """
    client, someone = browser.web_client(world), browser.person(world)
    for attempt in itertools.count():
        sign_in = browser.SignIn(world, client, someone)
        fields = browser.hidden_inputs(sign_in.browser.get(sign_in.login_page_url()))
        credentials = {"username": f"stuffed-{attempt}", "password": secrets.token_urlsafe(12)}
        yield world.from_new_address(sign_in.browser.form_event("/ui/login", {**fields, **credentials}))


def get(path: str) -> Requests:
    def requests(world: World) -> Iterator[Event]:
        while True:
            yield world.get(path)

    return requests


# --------------------------------------------------------------------------- the table

TOKEN = "POST /oauth2/token"
INTROSPECT = "POST /oauth2/introspect"
REVOKE = "POST /oauth2/revoke"
AUTHORIZE = "GET /oauth2/auth"
LOGIN = "POST /ui/login"
CONSENT = "POST /ui/consent"

SCENARIOS: tuple[Scenario, ...] = (
    # Cached client and keys: signing is all the work.
    Scenario("client_credentials, JWT RS256", TOKEN, 0, client_credentials("jwt"), tokens_per_second=True),
    Scenario(
        "client_credentials, JWT ES256",
        TOKEN,
        0,
        client_credentials("jwt"),
        env={"ACCESS_TOKEN_SIGNING_ALG": "ES256"},
        tokens_per_second=True,
    ),
    # PutItem of the token's hash.
    Scenario("client_credentials, opaque", TOKEN, 1, client_credentials("opaque")),
    # A sign-in through the default pages, a request at a time.  Nothing: the login challenge
    # is the flow, sealed (chalicelib/oauth/sealed_challenges.py).
    Scenario("authorize (redirect to login)", AUTHORIZE, 0, sign_in_step("authorize_url"), check=status(302)),
    # Read the sealed challenge's state item (its attempts so far; answered?): absent, nothing is written.
    Scenario("login page", "GET /ui/login", 1, sign_in_step("login_page_url")),
    # Count the attempt on the sealed challenge's state item (the write creates it) + count it per source
    # address, per (username, source address) and per username, all before the hash + find the user
    # (index query) + clear the pair's count + store the login verifier and close the challenge (one
    # transaction).  scrypt is the time.
    Scenario(
        "login submit",
        LOGIN,
        7,
        sign_in_step("login_submit"),
        check=status(303),
        max_samples=30,
        slow_by_design="scrypt, as OWASP sizes it",
    ),
    # Consume the login verifier + is there a remembered consent? + store the login session
    # (the default page remembers the login) + store the consent challenge.
    Scenario("authorize (after login)", AUTHORIZE, 4, sign_in_step("after_login_url"), check=status(302)),
    # Read the consent challenge.
    Scenario("consent page", "GET /ui/consent", 1, sign_in_step("consent_page_url")),
    # Read the request (what to grant: Hydra's contract) + consume the challenge + store the verifier.
    Scenario("consent submit", CONSENT, 3, sign_in_step("consent_submit"), check=status(303)),
    # Consume the consent verifier + store the code.
    Scenario("authorize (after consent)", AUTHORIZE, 2, sign_in_step("after_consent_url"), check=status(302)),
    # Consume the code (conditional UpdateItem) + store the refresh token in one transaction
    # that checks the grant is not revoked.
    Scenario("authorization_code exchange", TOKEN, 2, code_exchange),
    # Consume the old refresh token (conditional UpdateItem) + store the new one, as above.
    # Each request redeems a token issued a moment before, which REFRESH_MIN_INTERVAL would
    # refuse (in that one UpdateItem): the row measures a refresh, not its refusal.
    Scenario("refresh_token", TOKEN, 2, refresh, env={"REFRESH_MIN_INTERVAL": "0"}),
    # Is the token revoked (jti and grant, one BatchGetItem) + read the user.
    Scenario("userinfo", "GET /userinfo", 2, userinfo),
    # One conditional write counts the poll and answers the record as it was, whatever the answer
    # (pending, slow_down, denied, expired, unknown).
    Scenario("device poll (pending)", TOKEN, 1, device_poll, check=oauth_error("authorization_pending")),
    # One BatchGetItem: has this jti, or its grant, been revoked?
    Scenario("introspection, JWT", INTROSPECT, 1, introspection("jwt"), check=active_token),
    # One BatchGetItem: the token's hash (and its grant's revocation, if it names one).
    Scenario("introspection, opaque", INTROSPECT, 1, introspection("opaque"), check=active_token),
    # PutItem of the revoked jti (the signature proves whose token it is).
    Scenario("revocation, JWT", REVOKE, 1, revocation("jwt")),
    # BatchGetItem (whose token is it? RFC 7009 §2.1) + DeleteItem: the owner lives inside the
    # stored payload, so one conditional delete cannot check it.
    Scenario("revocation, opaque", REVOKE, 2, revocation("opaque")),
    # Abuse (issue 10): what one request an attacker may send costs, from a new address each time.
    # Nothing: the login flow is sealed into the challenge.
    Scenario(
        "abuse: anonymous authorization",
        AUTHORIZE,
        0,
        anonymous_authorization,
        check=status(302),
        abuse="a valid client's authorization URL, no session",
    ),
    # Count the attempt per address + per challenge (both before the lookup, RFC 8628 §5.1) + look the code up.
    Scenario(
        "abuse: junk device code",
        "POST /oauth2/device/verify",
        3,
        junk_device_code,
        check=status(400),
        abuse="a wrong user code on the verification page",
    ),
    # Count on the challenge (sealed: its state item, created by this write) + count per address, per
    # (username, address) and per username + find the user; then scrypt.
    Scenario(
        "abuse: failed login",
        LOGIN,
        5,
        failed_login,
        max_samples=30,
        slow_by_design="scrypt, as OWASP sizes it",
        abuse="a wrong password on the login page",
    ),
    Scenario("JWKS", "GET /.well-known/jwks.json", 0, get("/.well-known/jwks.json")),
    Scenario("discovery", "GET /.well-known/openid-configuration", 0, get("/.well-known/openid-configuration")),
)
