"""``kms`` key mode: asymmetric KMS keys sign tokens, so no private key ever leaves KMS.

DESIGN §8.  Each algorithm has three aliases, one per rotation status, as
the ``secrets`` mode has three JWKs::

    alias/tollgate-prod-signing-rs256-next       RSA_2048       RSASSA_PKCS1_V1_5_SHA_256
    alias/tollgate-prod-signing-rs256-current
    alias/tollgate-prod-signing-rs256-previous
    alias/tollgate-prod-signing-es256-...        ECC_NIST_P256  ECDSA_SHA_256

The ``kid`` is the KMS key id (a UUID: it names the key, not the account).
Public keys come from ``GetPublicKey`` and are cached like the secrets mode's
key set (``KEY_CACHE_SECONDS``); signing is one ``kms:Sign`` call per token,
with the key's id rather than the alias, so the ``kid`` in the header always
names the key that signed even while rotation moves the aliases.

Rotation (:func:`rotate`) creates a new key per algorithm and moves the
aliases ``next -> current -> previous``, so the JWKS keeps publishing the
previous key (tokens signed before the rotation verify until they expire)
and has published the new signing key a full period before it signs.  The
key that falls off ``previous`` is scheduled for deletion.  Every key
carries the ``tollgate-keyset`` tag, which is what the IAM policies of
``infra/policies.py`` allow access by, and a key policy naming the rotation
and API roles (:mod:`chalicelib.keys.key_policy`), which works before the
tag has reached IAM.  A key rotation created but could not alias is
scheduled for deletion, never left behind.

Trade-off (README): private keys never leave KMS, but every token costs a
KMS request: latency, $0.15 per 10,000 requests, and a shared per-account,
per-region quota (about 500/s for RSA, 300/s for ECC).  A throttled Sign
emits ``KmsThrottled`` and answers ``temporarily_unavailable`` (503,
``Retry-After``); ``REFRESH_MIN_INTERVAL`` bounds what one grant can spend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import utils
from cryptography.hazmat.primitives.serialization import load_der_public_key

from chalicelib import aws
from chalicelib.keys.cached import CachedKeySet
from chalicelib.keys.jwkset import ALGORITHMS, STATUSES, NotYet, public_jwk_of
from chalicelib.keys.key_policy import KEYSET_TAG, KeyUsers
from chalicelib.metrics import emit_metric
from chalicelib.oauth.errors import TemporarilyUnavailable

logger = logging.getLogger(__name__)

RAW_MESSAGE_LIMIT = 4096  # KMS signs at most 4 KB with MessageType=RAW
DELETION_WINDOW_DAYS = 7  # a retired key has signed nothing for a whole rotation period
_P256_COORDINATE_BYTES = 32
# What KMS answers past its request quota (a common error: botocore models no class for it).
THROTTLED = "ThrottlingException"
# KMS's request quota is per second: after botocore's own retries, a client waits one.
THROTTLED_RETRY_AFTER = 1
# A new key answers AccessDenied while its permissions propagate: retried after these pauses (s), then deleted.
RETRY_DELAYS = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class KeySpec:
    key_spec: str
    signing_algorithm: str


SPECS = {
    "RS256": KeySpec("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
    "ES256": KeySpec("ECC_NIST_P256", "ECDSA_SHA_256"),
}


def alias_name(prefix: str, alg: str, status: str) -> str:
    return f"{prefix}-{alg.lower()}-{status}"


def der_to_jose(der: bytes) -> bytes:
    """KMS returns ECDSA signatures DER-encoded; JWS (RFC 7518 §3.4) wants ``r || s``."""
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(_P256_COORDINATE_BYTES, "big")


@dataclass(frozen=True)
class KmsSigningKey:
    """A ``SigningKey`` (:mod:`chalicelib.tokens.jws`) that signs inside KMS."""

    kid: str
    alg: str
    key_id: str

    def sign(self, signing_input: bytes) -> bytes:
        if len(signing_input) > RAW_MESSAGE_LIMIT:
            raise ValueError(f"a KMS RAW signature covers at most {RAW_MESSAGE_LIMIT} bytes")
        kms = aws.client("kms")
        try:
            answer = kms.sign(
                KeyId=self.key_id,
                Message=signing_input,
                MessageType="RAW",
                SigningAlgorithm=SPECS[self.alg].signing_algorithm,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != THROTTLED:
                raise
            # The account-wide Sign quota is spent (README: the quota arithmetic): an operator
            # needs to see it, a client needs a clean 503 to retry, never a 500.
            emit_metric("KmsThrottled", Algorithm=self.alg)
            raise TemporarilyUnavailable(
                "signing is throttled; retry shortly",
                detail="kms:Sign ThrottlingException",
                retry_after=THROTTLED_RETRY_AFTER,
            ) from None
        signature: bytes = answer["Signature"]
        return der_to_jose(signature) if self.alg == "ES256" else signature


@dataclass(frozen=True)
class PublishedKey:
    """A signing key's public half, as one ``GetPublicKey`` call describes it."""

    kid: str
    alg: str
    status: str
    key_id: str
    public_key: Any
    public_jwk: dict[str, Any]


def _kid(key_id: str) -> str:
    return key_id.rsplit("/", 1)[-1]  # GetPublicKey answers an ARN (moto: the bare id)


def published_key(kms: Any, prefix: str, alg: str, status: str) -> PublishedKey | None:
    """The key behind ``alias_name(prefix, alg, status)``; None if the alias does not exist (yet)."""
    try:
        answer = kms.get_public_key(KeyId=alias_name(prefix, alg, status))
    except kms.exceptions.NotFoundException:
        return None
    kid = _kid(answer["KeyId"])
    public_key = load_der_public_key(answer["PublicKey"])
    return PublishedKey(kid, alg, status, answer["KeyId"], public_key, public_jwk_of(public_key, kid=kid, alg=alg))


def published_keys(prefix: str) -> list[PublishedKey]:
    kms = aws.client("kms")
    found = (_readable(kms, prefix, alg, status) for alg in ALGORITHMS for status in STATUSES)
    return [key for key in found if key is not None]


def _readable(kms: Any, prefix: str, alg: str, status: str) -> PublishedKey | None:
    """A ``next`` key that can't be read yet (a new key's tag-based permission propagates in
    minutes) is left out until the next refresh; any other key's failure fails the refresh."""
    try:
        return published_key(kms, prefix, alg, status)
    except ClientError as error:
        if status != "next":
            raise
        logger.warning("next %s key not readable yet (%s): left out of this refresh", alg, _code(error))
        return None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "ClientError"))


class KmsKeyProvider(CachedKeySet[PublishedKey]):
    """Key provider of the ``kms`` mode; public keys cached for ``cache_seconds``."""

    def __init__(self, alias_prefix: str, *, cache_seconds: int) -> None:
        super().__init__(cache_seconds=cache_seconds)
        self._prefix = alias_prefix

    def fetch(self) -> list[PublishedKey]:
        return published_keys(self._prefix)

    def signing_key(self, alg: str) -> KmsSigningKey:
        key = self.current(alg)
        if key is None:
            raise LookupError(f"no current {alg} signing key behind {alias_name(self._prefix, alg, 'current')}")
        return KmsSigningKey(key.kid, key.alg, key.key_id)


# --------------------------------------------------------------------------- rotation


def _target(kms: Any, alias: str) -> str | None:
    """The id of the key ``alias`` points at, or None."""
    try:
        return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    except kms.exceptions.NotFoundException:
        return None


def _point(kms: Any, alias: str, key_id: str) -> None:
    try:
        kms.update_alias(AliasName=alias, TargetKeyId=key_id)
    except kms.exceptions.NotFoundException:
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)


def _retrying(call: Callable[[], Any]) -> Any:
    """``call()``, again after ``RETRY_DELAYS`` while KMS answers AccessDenied: a new key's permissions may lag it."""
    for delay in (*RETRY_DELAYS, None):
        try:
            return call()
        except ClientError as error:
            if _code(error) != "AccessDeniedException" or delay is None:
                raise
            logger.warning("KMS denied a call on a new key (permissions still propagating): again in %s s", delay)
            time.sleep(delay)
    return None


def _create_key(kms: Any, prefix: str, alg: str, users: KeyUsers | None) -> str:
    """A new signing key, tagged, with a key policy naming ``users``; usable by this role before it is returned."""
    policy = {"Policy": users.document(), "BypassPolicyLockoutSafetyCheck": True} if users else {}
    metadata = kms.create_key(
        KeySpec=SPECS[alg].key_spec,
        KeyUsage="SIGN_VERIFY",
        Description=f"Tollgate {alg} token signing key ({prefix})",
        Tags=[{"TagKey": KEYSET_TAG, "TagValue": prefix}],
        **policy,
    )["KeyMetadata"]
    key_id = str(metadata["KeyId"])
    _keep_or_discard(kms, key_id, lambda: _retrying(lambda: kms.describe_key(KeyId=key_id)))
    return key_id


def _point_new(kms: Any, alias: str, key_id: str) -> None:
    """Point ``alias`` at a key this run created; a key that cannot be aliased is scheduled for deletion."""
    _keep_or_discard(kms, key_id, lambda: _retrying(lambda: _point(kms, alias, key_id)))


def _keep_or_discard(kms: Any, key_id: str, step: Callable[[], Any]) -> None:
    """Run ``step`` on a new key; if it fails, the key (which no alias names) is deleted rather than orphaned."""
    try:
        step()
    except ClientError:
        try:
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=DELETION_WINDOW_DAYS)
        except ClientError as error:
            logger.error("new key %s has no alias and could not be scheduled for deletion (%s)", key_id, _code(error))
        raise


def _publish_new_key(kms: Any, prefix: str, alg: str, status: str, users: KeyUsers | None) -> str:
    key_id = _create_key(kms, prefix, alg, users)
    _point_new(kms, alias_name(prefix, alg, status), key_id)
    return key_id


def _rotate_algorithm(kms: Any, prefix: str, alg: str, users: KeyUsers | None) -> None:
    targets = {status: _target(kms, alias_name(prefix, alg, status)) for status in STATUSES}
    if targets["current"] is None:  # first run: a current key and the next one, published ahead
        _publish_new_key(kms, prefix, alg, "current", users)
        _publish_new_key(kms, prefix, alg, "next", users)
        return
    # Never promote a key no verifier has seen: publish one, promote it next time.  (``next`` naming the
    # current key is what a rotation leaves when it could not alias its new key.)
    if targets["next"] in (None, targets["current"]):
        _publish_new_key(kms, prefix, alg, "next", users)
        return
    promoted = targets["next"]
    fresh = _create_key(kms, prefix, alg, users)

    def promote() -> None:
        # Order matters: each step leaves every key that may have signed a live token published.
        _point(kms, alias_name(prefix, alg, "previous"), targets["current"])
        _point(kms, alias_name(prefix, alg, "current"), promoted)
        _retrying(lambda: _point(kms, alias_name(prefix, alg, "next"), fresh))

    _keep_or_discard(kms, fresh, promote)
    retired = targets["previous"]
    if retired is not None and retired not in (targets["current"], promoted):
        kms.schedule_key_deletion(KeyId=retired, PendingWindowInDays=DELETION_WINDOW_DAYS)


def rotate(prefix: str, users: KeyUsers | None = None) -> None:
    """Promote next -> current -> previous with a fresh next per algorithm; first run creates the set."""
    kms = aws.client("kms")
    for alg in ALGORITHMS:
        _rotate_algorithm(kms, prefix, alg, users)


def rotate_paced(prefix: str, *, now: int, pace: int, retention: int, users: KeyUsers | None = None) -> None:
    """:func:`rotate`, or ``NotYet`` while a ``next`` key is younger than ``pace`` or a ``previous`` still needed.

    There is one ``previous`` alias per algorithm, so instead of keeping
    several retired keys (as the ``secrets`` mode does) a rotation waits
    until the previous key has outlived every token it may have signed.
    """
    kms = aws.client("kms")
    timing = {"now": now, "pace": pace, "retention": retention}
    ready_at = max(_ready_at(kms, prefix, alg, users, **timing) for alg in ALGORITHMS)
    if now < ready_at:
        raise NotYet(ready_at)
    rotate(prefix, users)


def _ready_at(kms: Any, prefix: str, alg: str, users: KeyUsers | None, *, now: int, pace: int, retention: int) -> int:
    """When ``alg`` may rotate; a missing ``next`` is created and published now, so that is a whole pace away."""
    current = _target(kms, alias_name(prefix, alg, "current"))
    if current is None:
        return now  # first run: rotate creates the set
    try:
        upcoming = kms.describe_key(KeyId=alias_name(prefix, alg, "next"))["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        upcoming = None
    if upcoming is None or upcoming["KeyId"] == current:
        _publish_new_key(kms, prefix, alg, "next", users)
        return now + pace
    # The rotation that created this next key retired the previous one in the same run.
    published_at = int(upcoming["CreationDate"].timestamp())
    retired = _target(kms, alias_name(prefix, alg, "previous")) is not None
    return published_at + (max(pace, retention) if retired else pace)


def revoke(prefix: str, kid: str, users: KeyUsers | None = None) -> None:
    """Take key ``kid`` out of every alias and schedule its deletion (``KeyError`` if no alias names it).

    ``ScheduleKeyDeletion`` makes the key unusable at once (KMS refuses to
    sign with a key pending deletion, even for a container whose cache
    still names it ``current``), and it can be cancelled for
    ``DELETION_WINDOW_DAYS`` should the revocation prove a mistake.
    A revoked ``current`` is replaced by its ``next`` now, without waiting
    for the pace; a fresh ``next`` replaces the one promoted or revoked.
    """
    kms = aws.client("kms")
    for alg in ALGORITHMS:
        targets = {status: _target(kms, alias_name(prefix, alg, status)) for status in STATUSES}
        statuses = {status for status, target in targets.items() if target == kid}
        if statuses:
            break
    else:
        raise KeyError(kid)
    if "current" in statuses:
        successor = targets["next"]
        if successor in (None, kid):
            _publish_new_key(kms, prefix, alg, "current", users)
        else:
            _point(kms, alias_name(prefix, alg, "current"), successor)
    if statuses & {"current", "next"}:
        _publish_new_key(kms, prefix, alg, "next", users)
    if "previous" in statuses:
        kms.delete_alias(AliasName=alias_name(prefix, alg, "previous"))
    kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=DELETION_WINDOW_DAYS)


def ensure_keys(prefix: str, users: KeyUsers | None = None) -> None:
    """Create the first keys if there are none (first start of a stage)."""
    kms = aws.client("kms")
    for alg in ALGORITHMS:
        if _target(kms, alias_name(prefix, alg, "current")) is None:
            _rotate_algorithm(kms, prefix, alg, users)


def describe(prefix: str) -> list[dict[str, Any]]:
    """What ``keys list`` shows: kid, alg, status and the KMS key ARN of every published key."""
    kms = aws.client("kms")
    listed = []
    for key in published_keys(prefix):
        metadata = kms.describe_key(KeyId=key.key_id)["KeyMetadata"]
        created = metadata.get("CreationDate")
        listed.append(
            {
                "kid": key.kid,
                "alg": key.alg,
                "status": key.status,
                "key_arn": metadata.get("Arn"),
                "created_at": int(created.timestamp()) if created else None,
            }
        )
    return listed
