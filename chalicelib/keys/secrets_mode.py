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
from typing import Any

from chalicelib import aws
from chalicelib.keys import jwkset
from chalicelib.keys.cached import CachedKeySet
from chalicelib.keys.jwkset import LoadedKey


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


def rotate_keyset(secret_id: str) -> None:
    """Rotate the set (or create the first one), once even if two rotations race.

    The new version is written with a ``ClientRequestToken`` derived from the
    version it was computed from: a second rotation that read the same version
    gets ``ResourceExistsException`` and changes nothing, so a scheduled and a
    manual rotation at the same moment cannot skip a generation.
    """
    secrets = aws.client("secretsmanager")
    answer = secrets.get_secret_value(SecretId=secret_id)
    keyset = json.loads(answer["SecretString"])
    rotated = jwkset.rotate(keyset) if keyset.get("keys") else jwkset.initial_keyset()
    token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate-rotation-after:{answer['VersionId']}"))
    try:
        secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(rotated), ClientRequestToken=token)
    except secrets.exceptions.ResourceExistsException:
        return  # another rotation from the same version won
