"""Browser sessions and remembered consent as models: pure, no store, no moto, no Chalice."""

from __future__ import annotations

from chalicelib.oauth.models.interaction import Authentication, Consent
from chalicelib.oauth.models.remembered_consent import RememberedConsent
from chalicelib.oauth.models.serial import from_plain, to_plain
from chalicelib.oauth.models.session import Session

NOW = 1_800_000_000
IDLE = 3600


def session() -> Session:
    signed_in = Authentication("ada", auth_time=NOW - 5, acr="1", amr=("pwd",), remember=True, remember_for=86400)
    return Session.start(signed_in, sid="sid-1", lifetime=86400, now=NOW)


def test_a_session_starts_from_the_sign_in_and_ends_at_its_lifetime() -> None:
    assert session() == Session("ada", NOW - 5, "1", ("pwd",), "sid-1", NOW + 86400)
    assert Session.KIND == "session"


def test_the_idle_end_never_passes_the_absolute_end() -> None:
    assert session().idle_end(NOW, IDLE) == NOW + IDLE
    assert session().idle_end(NOW + 86000, IDLE) == NOW + 86400


def test_a_use_moves_the_idle_end_only_by_a_tenth_of_the_idle_time_or_more() -> None:
    stored_until = NOW + IDLE
    assert session().used(stored_until, NOW + IDLE // 10 - 1, IDLE) is None  # a busy session: no write
    assert session().used(stored_until, NOW + IDLE // 10, IDLE) == NOW + IDLE + IDLE // 10
    assert session().used(NOW + 10 * IDLE, NOW, IDLE) == NOW + IDLE  # stored before a shorter idle time
    assert session().used(NOW + 1, NOW, 5) == NOW + 5  # a tiny idle time still moves by at least a second


def test_the_session_payload_keeps_the_shape_stored_today() -> None:
    plain = to_plain(session())
    assert plain == {
        "subject": "ada",
        "auth_time": NOW - 5,
        "acr": "1",
        "amr": ["pwd"],
        "sid": "sid-1",
        "expires_at": NOW + 86400,
    }
    assert from_plain(Session, plain) == session()


GIVEN = Consent(
    grant_scope=("openid", "profile"),
    grant_access_token_audience=("https://api.example.com",),
    remember=True,
    remember_for=600,
    access_token_claims={"tier": "gold"},
    id_token_claims={"department": "research"},
)


def test_a_remembered_consent_covers_what_it_granted_and_no_more() -> None:
    remembered = RememberedConsent.of("web", GIVEN)
    assert remembered.covering(("openid",), ()) == Consent(
        ("openid",), (), access_token_claims={"tier": "gold"}, id_token_claims={"department": "research"}
    )
    assert remembered.covering(("openid", "profile"), ("https://api.example.com",)) is not None
    assert remembered.covering(("openid", "email"), ()) is None
    assert remembered.covering(("openid",), ("https://other.example.com",)) is None
    assert RememberedConsent.KIND == "consent"


def test_the_remembered_consent_payload_keeps_the_shape_stored_today() -> None:
    plain = to_plain(RememberedConsent.of("web", GIVEN))
    assert plain == {
        "client_id": "web",
        "grant_scope": ["openid", "profile"],
        "grant_access_token_audience": ["https://api.example.com"],
        "access_token_claims": {"tier": "gold"},
        "id_token_claims": {"department": "research"},
    }
    assert from_plain(RememberedConsent, plain) == RememberedConsent.of("web", GIVEN)
