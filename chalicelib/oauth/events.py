"""What one request came to, said by the core that decided it (oidc-provider's ``grant.success``).

The web layer writes the log line and the metrics from one :class:`Outcome`
per request and guesses nothing: it parses no body, header, JSON answer or
``Location`` to find out what happened.  Two carriers, each where the fact
is known:

- the answer itself: the error renderers (``OAuthError.to_response``,
  ``to_page``, ``to_redirect`` and ``error_redirect``) set the RFC code on the
  :class:`~chalicelib.oauth.http.Response` or ``Page`` they build, so no error
  answer leaves without its code;
- the request's :class:`Recorder`, for what is learned on the way: the client
  once it authenticated, the grant type asked for, whom a token is about, a
  sign-in attempt or a consent decision.  It lives on the request (one per
  request, never a global), so nothing leaks from one request to the next.

Nothing here may hold a secret: no token, code, password, cookie, header or
URL, only codes and names from fixed sets and the client's public id.
"""

from __future__ import annotations

from dataclasses import dataclass

# Whom an issued token is about (RFC 9068 §2.2 ``sub``): the client itself, or a person.
CLIENT_SUBJECT = "client"
USER_SUBJECT = "user"
# A grant_type the token endpoint does not offer: logged as this, never as the caller wrote it.
OTHER_GRANT_TYPE = "other"

# A sign-in attempt on the default login page, or a login app's answer (accepted or rejected).
LOGIN_SUCCESS, LOGIN_FAILURE, LOGIN_LOCKED, LOGIN_REJECTED = "success", "failure", "locked", "rejected"
# A consent decision, on the default consent page or from a team's consent app.
CONSENT_ALLOW, CONSENT_DENY = "allow", "deny"


@dataclass(frozen=True)
class Outcome:
    """One request's outcome: what the log line and the metrics are written from."""

    error: str | None = None  # the RFC error code answered; None: success
    client_id: str | None = None  # once the client authenticated (or, at /oauth2/auth, was found registered)
    grant_type: str | None = None  # token endpoint: the grant asked for, or OTHER_GRANT_TYPE
    subject_kind: str | None = None  # a token was issued about CLIENT_SUBJECT or USER_SUBJECT
    login: str | None = None  # LOGIN_SUCCESS / LOGIN_FAILURE / LOGIN_LOCKED / LOGIN_REJECTED
    consent: str | None = None  # CONSENT_ALLOW / CONSENT_DENY


class Recorder:
    """What the core learns while answering one request; read once, as an :class:`Outcome`, when it answered."""

    __slots__ = ("client_id", "consent", "grant_type", "login", "subject_kind")

    def __init__(self) -> None:
        self.client_id: str | None = None
        self.grant_type: str | None = None
        self.subject_kind: str | None = None
        self.login: str | None = None
        self.consent: str | None = None

    def outcome(self, error: str | None) -> Outcome:
        """The request's outcome, given the error code its answer carries (if any)."""
        return Outcome(
            error=error,
            client_id=self.client_id,
            grant_type=self.grant_type,
            subject_kind=None if error else self.subject_kind,
            login=self.login,
            consent=self.consent,
        )
