"""``secrets`` key mode: the private JWK set lives in one Secrets Manager secret.

The secret is encrypted with the customer KMS key declared in
``infra/resources.yaml``.  Each container reads it once and re-reads it after
``KEY_CACHE_SECONDS`` (default 300 s), so a rotation reaches every container
within that interval without a deploy; because ``next`` keys are published
a full rotation period before they sign, no verifier ever meets an unknown
``kid``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib import aws
from chalicelib.keys import jwkset
from chalicelib.keys.cached import CachedKeySet
from chalicelib.keys.jwkset import LoadedKey

_ATTEMPTS = 5  # revocations retried after losing a race to a concurrent change


class SecretsManagerKeyProvider(CachedKeySet[LoadedKey]):
    def __init__(self, secret_id: str, *, cache_seconds: int) -> None:
        super().__init__(cache_seconds=cache_seconds)
        self._secret_id = secret_id

    def fetch(self) -> list[LoadedKey]:
        return [jwkset.load(jwk) for jwk in read_keyset(self._secret_id)["keys"]]

    def signing_key(self, alg: str) -> LoadedKey:
        key = self.current(alg)
        if key is None:
            raise LookupError(f"no current {alg} signing key in {self._secret_id}")
        return key


def read_keyset(secret_id: str) -> dict[str, Any]:
    answer = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
    return json.loads(answer["SecretString"])


def write_keyset(secret_id: str, keyset: dict[str, Any]) -> None:
    aws.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(keyset))


def ensure_keyset(secret_id: str) -> None:
    """Fill an empty key secret with a first set (first start of a stack)."""
    if not read_keyset(secret_id).get("keys"):
        write_keyset(secret_id, jwkset.initial_keyset())


def rotate_keyset(secret_id: str, *, now: int, pace: int, retention: int) -> None:
    """Rotate the set (or create the first one), once even if two rotations race; ``jwkset.NotYet`` if too soon."""

    def rotated(keyset: dict[str, Any]) -> dict[str, Any]:
        if not keyset.get("keys"):
            return jwkset.initial_keyset(now)
        return jwkset.rotate(keyset, now=now, pace=pace, retention=retention)

    _change_keyset(secret_id, rotated)


def revoke_key(secret_id: str, kid: str, *, now: int) -> None:
    """Remove ``kid`` from the set (``KeyError`` if absent); retried until no concurrent change overwrites it."""
    for _ in range(_ATTEMPTS):
        if _change_keyset(secret_id, lambda keyset: jwkset.revoke(keyset, kid, now=now)):
            return
        # another change won from the same version: revoke again from the version it wrote
    raise RuntimeError(f"{secret_id} kept changing; {kid} was not revoked: try again")


def _change_keyset(secret_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
    """Write ``change(set)`` as the version after the one read; False if another change won that race.

    Secrets Manager has no compare-and-swap, but a ``ClientRequestToken``
    names the version it creates: deriving it from the version the change
    was computed from means two changes computed from the same version
    cannot both land (the second gets ``ResourceExistsException``), so a
    scheduled and a manual rotation at the same moment cannot skip a
    generation, and a rotation cannot put back a key a revocation removed.
    """
    secrets = aws.client("secretsmanager")
    answer = secrets.get_secret_value(SecretId=secret_id)
    changed = change(json.loads(answer["SecretString"]))
    token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate-keyset-after:{answer['VersionId']}"))
    try:
        secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(changed), ClientRequestToken=token)
    except secrets.exceptions.ResourceExistsException:
        return False
    return True
