"""Least-privilege IAM policies, one per Lambda function (DESIGN §1, issue 5 item 3).

The statements are written once, here, with resources as CloudFormation
``Fn::Sub`` patterns (``${StateTable.Arn}/index/*``).  Two renderings use them:

- packaging (``chalice package --merge-template``): the patterns stay
  ``Fn::Sub`` references to the resources of ``infra/resources.yaml`` merged
  into the same template, as separate ``AWS::IAM::Policy`` resources attached
  to Chalice's per-function roles;
- deploying (``chalice deploy``): the patterns are filled with the ARNs the
  infrastructure stack reports in its outputs and written to the stage's
  ``iam_policy_file``\\ s.

Who may do what:

- ``api_handler`` reads ``Clients`` and ``Users``, reads and writes the state
  table, reads the pepper and (``secrets`` mode) the signing-key secret, or
  (``kms`` mode) signs with and reads public keys of the stage's signing keys;
- ``admin`` alone writes ``Clients`` and ``Users``; it reads the pepper to
  hash client secrets, and asks ``rotate_keys`` to rotate or list keys
  instead of touching them itself; it answers no login/consent challenge;
  it reads and writes the state table only to control a person (sign-out
  markers, their sessions, consents and grants: ``users sign-out``,
  ``consents revoke``);
- ``interactions`` (what a team's login app may invoke) answers login,
  consent and device challenges: it reads ``Clients`` and reads and writes the
  state table, and nothing else (no ``Users``, secret, key or function);
- ``rotate_keys`` alone writes the signing keys (the secret, or KMS keys and
  their aliases) and touches no table.

KMS signing keys are created by rotation, so their ARNs cannot be named in
advance: statements on them name ``key/*`` of the stage's account and region
and carry a condition on the ``tollgate-keyset`` tag that rotation puts on
every key it creates (and that ``kms:CreateKey`` is only allowed with).
``kms:TagResource`` exists only for that tag-on-create: the keyset tag alone,
with the stage's value; explicit ``Deny`` statements refuse it on a key
already tagged for another stage or already named by an alias.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.keys.key_policy import KEYSET_TAG, ROTATION_ACTIONS, SIGNER_ACTIONS
from infra.stages import ADMIN, API_HANDLER, FUNCTIONS, INTERACTIONS, ROTATE_KEYS, Stage

Statement = dict[str, Any]

ACCOUNT = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}"

# Resource patterns (Fn::Sub syntax) naming what infra/resources.yaml declares.
CLIENTS = "${ClientsTable.Arn}"
USERS = "${UsersTable.Arn}"
USERS_INDEXES = "${UsersTable.Arn}/index/*"
STATE = "${StateTable.Arn}"
STATE_INDEXES = "${StateTable.Arn}/index/*"
KEYS_SECRET = "${SigningKeysSecret}"
PEPPER_SECRET = "${PepperSecret}"
SECRETS_KEY = "${KeysKmsKey.Arn}"
SIGNING_KEYS = ACCOUNT % "kms" + ":key/*"

# Which stack output holds the value of each placeholder (deploy-time rendering).
OUTPUT_OF_PLACEHOLDER = {
    "ClientsTable.Arn": "ClientsTableArn",
    "UsersTable.Arn": "UsersTableArn",
    "StateTable.Arn": "StateTableArn",
    "SigningKeysSecret": "SigningKeysSecretArn",
    "PepperSecret": "PepperSecretArn",
    "KeysKmsKey.Arn": "KeysKmsKeyArn",
}

READ_ITEMS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
WRITE_ITEMS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)

# What signing a person out and forgetting consents call on the state table.
PEOPLE_IN_STATE = (
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)


def _statement(sid: str, actions: tuple[str, ...], resources: list[str], **condition: Any) -> Statement:
    statement: Statement = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _deny(sid: str, actions: tuple[str, ...], resources: list[str], **condition: Any) -> Statement:
    return {**_statement(sid, actions, resources, **condition), "Effect": "Deny"}


def _via_secrets_manager(*actions: str) -> Statement:
    """The customer KMS key, only as Secrets Manager uses it to read or write our secrets."""
    via = {"StringEquals": {"kms:ViaService": "secretsmanager.${AWS::Region}.amazonaws.com"}}
    return _statement("UseSecretsKeyThroughSecretsManager", actions, [SECRETS_KEY], **via)


def _tagged(stage: Stage) -> dict[str, Any]:
    return {"StringEquals": {f"aws:ResourceTag/{KEYSET_TAG}": stage.kms_alias_prefix}}


def _alias_pattern(stage: Stage) -> str:
    return ACCOUNT % "kms" + f":{stage.kms_alias_prefix}-*"


def log_statements(stage: Stage, function: str) -> list[Statement]:
    """Write to the function's own log group (Chalice creates it; Lambda writes it)."""
    group = ACCOUNT % "logs" + f":log-group:/aws/lambda/{stage.function_name(function)}"
    return [
        _statement("CreateOwnLogGroup", ("logs:CreateLogGroup",), [group]),
        _statement("WriteOwnLogs", ("logs:CreateLogStream", "logs:PutLogEvents"), [f"{group}:*"]),
    ]


def _api_handler(stage: Stage) -> list[Statement]:
    statements = [
        _statement("ReadClientsAndUsers", READ_ITEMS, [CLIENTS, USERS, USERS_INDEXES]),
        _statement("ReadWriteState", READ_ITEMS + WRITE_ITEMS, [STATE, STATE_INDEXES]),
    ]
    if stage.key_mode == "kms":
        statements += [
            _statement("ReadPepper", ("secretsmanager:GetSecretValue",), [PEPPER_SECRET]),
            _statement("SignWithSigningKeys", SIGNER_ACTIONS, [SIGNING_KEYS], **_tagged(stage)),
        ]
    else:
        statements.append(
            _statement("ReadSigningKeysAndPepper", ("secretsmanager:GetSecretValue",), [KEYS_SECRET, PEPPER_SECRET])
        )
    return [*statements, _via_secrets_manager("kms:Decrypt")]


def _admin(stage: Stage) -> list[Statement]:
    rotate_keys = ACCOUNT % "lambda" + f":function:{stage.function_name(ROTATE_KEYS)}"
    return [
        _statement("ReadWriteClientsAndUsers", (*READ_ITEMS, "dynamodb:Scan", *WRITE_ITEMS), [CLIENTS, USERS]),
        _statement("QueryUsersByUsername", ("dynamodb:Query",), [USERS_INDEXES]),
        _statement("ControlPeopleInState", PEOPLE_IN_STATE, [STATE, STATE_INDEXES]),
        _statement("ReadPepper", ("secretsmanager:GetSecretValue",), [PEPPER_SECRET]),
        _via_secrets_manager("kms:Decrypt"),
        _statement("AskKeyRotationToRotateOrList", ("lambda:InvokeFunction",), [rotate_keys]),
    ]


def _interactions(stage: Stage) -> list[Statement]:
    """Only what the challenge operations call: the client a challenge names, the challenges themselves,
    and the pepper, whose derived key opens the sealed ``login_hint`` that ``login get`` returns."""
    return [
        _statement("ReadClientsOfChallenges", READ_ITEMS, [CLIENTS]),
        _statement("AnswerLoginConsentAndDeviceChallenges", READ_ITEMS + WRITE_ITEMS, [STATE, STATE_INDEXES]),
        _statement("ReadPepperToOpenSealedLoginHints", ("secretsmanager:GetSecretValue",), [PEPPER_SECRET]),
        _via_secrets_manager("kms:Decrypt"),
    ]


def _rotate_keys(stage: Stage) -> list[Statement]:
    if stage.key_mode != "kms":
        return [
            _statement(
                "ReadWriteSigningKeys",
                ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"),
                [KEYS_SECRET],
            ),
            _via_secrets_manager("kms:Decrypt", "kms:GenerateDataKey"),
        ]
    requested = {
        f"aws:RequestTag/{KEYSET_TAG}": stage.kms_alias_prefix,
        "kms:KeyUsage": "SIGN_VERIFY",
        "kms:KeySpec": ["RSA_2048", "ECC_NIST_P256"],
    }
    only_the_keyset_tag = {"ForAllValues:StringEquals": {"aws:TagKeys": [KEYSET_TAG]}}
    create = {"StringEquals": requested, **only_the_keyset_tag}
    return [
        # CreateKey names no resource (the key does not exist yet): the conditions bound it instead.
        _statement("CreateTaggedSigningKeys", ("kms:CreateKey",), ["*"], **create),
        *_tag_on_create_statements(stage, only_the_keyset_tag),
        # The same actions each new key's policy grants this role by name (chalicelib/keys/key_policy.py): that
        # works from the key's creation, these once its tag has reached IAM (and for keys made before).
        _statement("ManageOwnSigningKeys", ROTATION_ACTIONS, [SIGNING_KEYS], **_tagged(stage)),
        _statement("MoveOwnSigningAliases", ("kms:CreateAlias", "kms:UpdateAlias"), [_alias_pattern(stage)]),
        *_revoke_statements(stage),
    ]


def _tag_on_create_statements(stage: Stage, only_the_keyset_tag: dict[str, Any]) -> list[Statement]:
    """``CreateKey`` with ``Tags`` is also authorised as ``kms:TagResource``, on every key of the account and region.

    That check carries the request's tags and nothing about a key that does
    not exist yet, so the ``Allow`` is conditioned on the tags alone (a
    condition on ``kms:KeySpec`` or on the resource would refuse it).  KMS
    cannot tell tag-on-create from tagging an existing key, so two ``Deny``
    statements, which only apply when the key already shows the fact, keep
    existing keys out: one tagged for another stage, or one named by an alias.
    """
    tag = f"aws:ResourceTag/{KEYSET_TAG}"
    tags = {"StringEquals": {f"aws:RequestTag/{KEYSET_TAG}": stage.kms_alias_prefix}, **only_the_keyset_tag}
    another_stages = {"Null": {tag: "false"}, "StringNotEquals": {tag: stage.kms_alias_prefix}}
    return [
        _statement("TagSigningKeysAsTheyAreCreated", ("kms:TagResource",), [SIGNING_KEYS], **tags),
        _deny("NeverRetagAnotherStagesKey", ("kms:TagResource",), [SIGNING_KEYS], **another_stages),
        _deny("NeverTagAKeyInUse", ("kms:TagResource",), [SIGNING_KEYS], Null={"kms:ResourceAliases": "false"}),
    ]


def _revoke_statements(stage: Stage) -> list[Statement]:
    """``keys revoke`` in kms mode: an alias is deleted (KMS checks both the alias and its key, allowed above)."""
    return [_statement("DeleteOwnSigningAliases", ("kms:DeleteAlias",), [_alias_pattern(stage)])]


_DATA_STATEMENTS = {API_HANDLER: _api_handler, ADMIN: _admin, INTERACTIONS: _interactions, ROTATE_KEYS: _rotate_keys}


def data_statements(stage: Stage, function: str) -> list[Statement]:
    """What ``function`` may do with the stage's tables, secrets, keys and functions."""
    return _DATA_STATEMENTS[function](stage)


def document(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


# --------------------------------------------------------------------------- renderings

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def as_references(node: Any) -> Any:
    """Patterns as CloudFormation ``Fn::Sub`` (packaging): resolved when the stack is created."""
    if isinstance(node, str):
        return {"Fn::Sub": node} if _PLACEHOLDER.search(node) else node
    if isinstance(node, list):
        return [as_references(value) for value in node]
    if isinstance(node, dict):
        return {key: as_references(value) for key, value in node.items()}
    return node


def placeholder_values(outputs: Mapping[str, str]) -> dict[str, str]:
    """Placeholder -> value from an infrastructure stack's outputs (partition, region and account from an ARN)."""
    _, partition, _, region, account, _ = outputs["ClientsTableArn"].split(":", 5)
    values = {"AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": account}
    values.update({name: outputs[output] for name, output in OUTPUT_OF_PLACEHOLDER.items()})
    return values


def as_values(node: Any, values: Mapping[str, str]) -> Any:
    """Patterns filled in with concrete ARNs (deploying with ``chalice deploy``)."""
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], node)
    if isinstance(node, list):
        return [as_values(value, values) for value in node]
    if isinstance(node, dict):
        return {key: as_values(value, values) for key, value in node.items()}
    return node


def deploy_documents(stage: Stage, outputs: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each function's complete policy (logs and data) with the deployed stack's ARNs."""
    values = placeholder_values(outputs)
    return {
        function: as_values(document(log_statements(stage, function) + data_statements(stage, function)), values)
        for function in FUNCTIONS
    }


def package_documents(stage: Stage) -> dict[str, dict[str, Any]]:
    """Each function's own role policy for ``chalice package``: its logs only (data access is separate)."""
    return {function: as_references(document(log_statements(stage, function))) for function in FUNCTIONS}
