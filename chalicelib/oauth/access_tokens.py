"""Access tokens and their revocation records: what the server remembers about tokens it issued.

The format is the client's (:mod:`chalicelib.tokens.formats`: an RFC 9068
JWT or an opaque handle); both carry the same claims (``iss sub aud exp iat
jti client_id scope``), so introspection answers the same for either.  A JWT
costs no storage at issue time; revoking one records its ``jti`` until it
would have expired.  An opaque token is stored under its hash.

Revoking a grant (RFC 7009 §2.1, RFC 9700 §4.5 and §4.14.2) first writes a
``revoked_grant`` marker, then deletes what the ``grant_id`` index finds.
The index is eventually consistent and may miss a token stored a moment
before, so the marker is what counts: every token of a grant is refused
while it exists (read side), and nothing of a grant is stored once it exists
(write side, one transaction), so a first exchange still writing when its
code is replayed hands nothing out.

Signing a person out (or disabling them) writes a ``signed_out`` marker keyed
by their ``sub`` whose ``not_before`` is that second: whatever stems from a
sign-in up to that second is void.  It is checked where it is free: in the
transaction that stores a grant's new tokens (code, refresh and device
exchanges: the grant's ``auth_time``), in the BatchGetItem that already
checks a JWT's revocation (its ``iat``), and on session use (one GetItem).
A sign-in in the very second of the sign-out counts as before it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.oauth.clients import Client
from chalicelib.oauth.models.access_token import AccessTokenClaims
from chalicelib.oauth.models.revocation import RevokedGrant, RevokedToken, SignedOut, revocation_of
from chalicelib.oauth.models.serial import from_plain
from chalicelib.oauth.models.stored import read
from chalicelib.oauth.oidc.claims import public_claims
from chalicelib.oauth.ports import KeyProvider, StateItem, StateStore, Unless
from chalicelib.tokens import opaque
from chalicelib.tokens.formats import AccessTokenFormat, JwtAccessTokens, OpaqueAccessTokens, format_of
from chalicelib.tokens.hashing import digest

OPAQUE_KIND = AccessTokenClaims.KIND
SIGNED_OUT_KIND = SignedOut.KIND  # sessions.py checks a session against it


def signed_out_since(marker: StateItem | None, issued_at: int) -> bool:
    """True if a ``signed_out`` marker voids what was issued (or signed in) at ``issued_at``."""
    return marker is not None and revocation_of(marker).voids(issued_at)


@dataclass(frozen=True)
class AccessTokenRequest:
    """What a grant decided the token should say."""

    client: Client
    subject: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    grant_id: str | None = None
    extra_claims: dict[str, Any] = field(default_factory=dict)
    # A person's sign-in (scope openid): the token is also for our own UserInfo endpoint.
    for_userinfo: bool = False


@dataclass(frozen=True)
class IssuedToken:
    value: str
    expires_in: int
    claims: dict[str, Any]
    record: StateItem | None = None  # an opaque token's record: stored before the value is handed out


class AccessTokens:
    def __init__(
        self, keys: KeyProvider, store: StateStore, *, issuer: str, alg: str, ttl: int, grant_ttl: int
    ) -> None:
        self._jwt = JwtAccessTokens(keys, issuer=issuer, alg=alg)
        self._formats: tuple[AccessTokenFormat, ...] = (OpaqueAccessTokens(), self._jwt)
        self._by_strategy = {each.strategy: each for each in self._formats}
        self._store = store
        self._issuer = issuer
        self._ttl = ttl
        self._grant_ttl = grant_ttl

    def _claims(self, request: AccessTokenRequest, now: int) -> dict[str, Any]:
        # RFC 9068 §2.2 requires `aud`; with no audience granted, the client
        # itself is the only honest one (never its registered list: that
        # would widen what the person or the grant allowed).
        audience = list(request.audience) or [request.client.client_id]
        if request.for_userinfo and self._issuer not in audience:
            # OIDC Core §5.3: UserInfo is a protected resource of the OP, so
            # its token names the issuer among its audiences (RFC 9068 §3).
            audience.append(self._issuer)
        claims = {
            **public_claims(request.extra_claims),
            "iss": self._issuer,
            "sub": request.subject,
            "aud": audience[0] if len(audience) == 1 else audience,
            "exp": now + self._ttl,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": request.client.client_id,
            "scope": " ".join(request.scope),
        }
        if request.grant_id:
            # The Grant Management name: lets one revocation reach every JWT of a grant.
            claims["grant_id"] = request.grant_id
        return claims

    def is_for_userinfo(self, claims: AccessTokenClaims) -> bool:
        """Whether a token's ``aud`` names this server (issuer or its UserInfo URL)."""
        return self._issuer in claims.audiences or f"{self._issuer}/userinfo" in claims.audiences

    def mint(self, request: AccessTokenRequest) -> IssuedToken:
        """A new token in the client's format; an opaque one comes with the record the caller must store first."""
        claims = self._claims(request, int(clock.now()))
        strategy = request.client.access_token_strategy
        # JWT is the default strategy (DESIGN §5), as it was for any value other than "opaque".
        token_format = self._by_strategy.get(strategy, self._jwt)
        minted = token_format.mint(claims, request.grant_id)
        if minted.record_id is None:
            return IssuedToken(minted.value, self._ttl, claims)
        # A person's grant records carry their sub, so signing them out finds the grant (subject index).
        subject = request.subject if request.grant_id else None
        record = StateItem(
            OPAQUE_KIND, minted.record_id, claims, claims["exp"], grant_id=request.grant_id, subject=subject
        )
        return IssuedToken(minted.value, self._ttl, claims, record)

    def issue(self, request: AccessTokenRequest) -> IssuedToken:
        """A token outside any person's grant (client credentials): stored at once, if opaque."""
        token = self.mint(request)
        if token.record is not None:
            self._store.upsert(token.record)
        return token

    def store_for_grant(self, grant_id: str, subject: str, auth_time: int, records: list[StateItem]) -> bool:
        """Store a grant's new tokens in one transaction, only while neither the grant is revoked
        nor its person signed out since ``auth_time``."""
        return self._store.insert_all(
            records, unless=[Unless(RevokedGrant.KIND, grant_id), Unless(SignedOut.KIND, subject, auth_time)]
        )

    def find_stored(self, kind: str, value: str) -> StateItem | None:
        """The live record of an opaque token (access or refresh); None as well if its grant is revoked.

        A value that names its grant costs one BatchGetItem: the record and
        the grant's marker.  One issued before values named their grant costs
        a second read of the marker.
        """
        named = opaque.grant_of(value)
        keys = [(kind, digest(value))] + ([(RevokedGrant.KIND, named)] if named else [])
        found = {item.kind: item for item in self._store.find_many(keys)}
        record = found.get(kind)
        if record is None or RevokedGrant.KIND in found:
            return None
        if record.grant_id and record.grant_id != named and self._store.find(RevokedGrant.KIND, record.grant_id):
            return None
        return record

    def active_claims(self, token: str) -> AccessTokenClaims | None:
        """The claims of a live, unrevoked access token; None for anything else."""
        token_format = format_of(self._formats, token)
        if token_format is None:
            return None
        if token_format.record_id(token) is not None:  # its record holds the claims, and revoking deletes it
            item = self.find_stored(OPAQUE_KIND, token)
            return read(AccessTokenClaims, item) if item else None
        claims = _verified(token_format, token)
        return None if claims is None or self._revoked(claims) else claims

    def _revoked(self, claims: AccessTokenClaims) -> bool:
        """Whether a self-contained token's ``jti``, grant or person was revoked since it was issued: one read."""
        revocations = [(RevokedToken.KIND, claims.jti)]
        if claims.grant_id:
            # A person's token: its grant's marker and its person's sign-out, in the same read.
            revocations += [(RevokedGrant.KIND, claims.grant_id), (SignedOut.KIND, claims.sub)]
        markers = self._store.find_many(revocations)
        return any(revocation_of(marker).voids(claims.iat) for marker in markers)

    def revocable_claims(self, token: str) -> AccessTokenClaims | None:
        """The claims of a token of ours, read no more than revoking it needs.

        A JWT's signature already says whose it is, and revoking it again is
        harmless, so unlike :meth:`active_claims` this skips the revocation
        lookup: revoking a JWT costs one write, not a read and a write.  An
        opaque token is known only through its record.
        """
        token_format = format_of(self._formats, token)
        if token_format is None or token_format.record_id(token) is not None:
            return self.active_claims(token) if token_format else None
        return _verified(token_format, token)

    def revoke(self, token: str, claims: AccessTokenClaims) -> None:
        token_format = format_of(self._formats, token)
        record_id = token_format.record_id(token) if token_format else None
        if record_id is not None:
            self._store.destroy(OPAQUE_KIND, record_id)
        else:
            # Remembered only until the token would have expired anyway.
            self._store.upsert(RevokedToken(claims.jti, claims.exp).stored())

    def sign_out(self, subject: str) -> None:
        """Void everything of ``subject`` signed in or issued up to this second (the ``signed_out`` marker)."""
        now = int(clock.now())
        # Outlives every grant and token from before it; sessions are also deleted (see chalicelib.oauth.people).
        expires_at = now + self._grant_ttl + self._ttl
        self._store.upsert(SignedOut(subject, expires_at, since=now).stored())

    def revoke_grant(self, grant_id: str) -> None:
        """Everything issued under ``grant_id`` stops working: the marker first, then what the index finds."""
        # Outlives every token the grant could have issued.
        expires_at = int(clock.now()) + self._grant_ttl + self._ttl
        self._store.upsert(RevokedGrant(grant_id, expires_at).stored())
        # Best effort (the index lags): a missed token is refused by the marker until it expires.
        self._store.revoke_by_grant(grant_id)


def _verified(token_format: AccessTokenFormat, token: str) -> AccessTokenClaims | None:
    """A self-contained token's claims, once its format verified them (it checked ``typ``: an access token's)."""
    claims = token_format.verified_claims(token)
    return from_plain(AccessTokenClaims, claims) if claims is not None else None
