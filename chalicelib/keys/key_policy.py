"""The key policy of every ``kms``-mode signing key: who may use it from the moment it exists.

The IAM policies of ``infra/policies.py`` reach signing keys through their
``tollgate-keyset`` tag, and on AWS a new key's tag reaches IAM minutes after
``CreateKey`` (attribute-based access is eventually consistent): the
rotation's ``CreateAlias`` right after ``CreateKey``, or the API handler's
first ``Sign`` with a stage's first keys, would be denied.  A key policy
naming the roles is part of the key itself, so it applies at once:

- the account (``:root``), with ``kms:*``: the key stays manageable by the
  account's administrators and IAM policies (the tag statements) keep working;
- the rotation role: what rotation and revocation do with a key
  (``ROTATION_ACTIONS``), never ``Sign`` and never ``PutKeyPolicy``;
- the API handler's role: ``Sign`` and ``GetPublicKey`` (``SIGNER_ACTIONS``).

Because the rotation role itself may not change the policy, ``CreateKey``
passes ``BypassPolicyLockoutSafetyCheck``: that check exists so a caller
cannot lock itself out, and the account statement keeps the key manageable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# The tag every signing key carries (value: the stage's alias prefix); the IAM policies condition on it.
KEYSET_TAG = "tollgate-keyset"
ROTATION_ACTIONS = (
    "kms:DescribeKey",
    "kms:GetPublicKey",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ScheduleKeyDeletion",
)
SIGNER_ACTIONS = ("kms:Sign", "kms:GetPublicKey")


@dataclass(frozen=True)
class KeyUsers:
    """The roles a new signing key's policy names (IAM role ARNs, in the key's account)."""

    signer_role: str
    rotation_role: str

    @property
    def account_root(self) -> str:
        _, partition, _, _, account, _ = self.rotation_role.split(":", 5)
        return f"arn:{partition}:iam::{account}:root"

    def document(self) -> str:
        """The key policy, as ``CreateKey``'s ``Policy`` parameter takes it."""
        statements = [
            _allow("AccountAdministersTheKey", self.account_root, ("kms:*",)),
            _allow("RotationMovesAliasesAndRetiresTheKey", self.rotation_role, ROTATION_ACTIONS),
            _allow("ApiHandlerSignsAndPublishes", self.signer_role, SIGNER_ACTIONS),
        ]
        return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _allow(sid: str, principal: str, actions: tuple[str, ...]) -> dict[str, object]:
    action: str | list[str] = actions[0] if len(actions) == 1 else list(actions)
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": "*"}
