"""The Users table (DESIGN §7), behind the ``UserRepository`` port.

One item per user, keyed by ``user_id`` (the OIDC ``sub``), with the index
``username-index`` on ``username`` for sign-in.  A global secondary index
cannot enforce uniqueness and is read eventually consistently, so a create
that queried it first could still let two racing creates take one username.
Instead each username also owns a *guard item* in the same table, keyed
``username#<username>`` and carrying no ``username`` attribute (so the sparse
index never shows it), and a create writes the user and its guard in one
TransactWriteItems, each on the condition that its key is free: DynamoDB
applies both or neither, so exactly one of two racing creates wins.

The admin function alone writes this table (PutItem inside the
transaction); the API handler reads it: GetItem on the table, Query on the
index.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.oauth.users import User, UsernameTaken, normalize_username
from chalicelib.storage import connection
from chalicelib.storage import region as aws_region

USERNAME_INDEX = "username-index"
GUARD_PREFIX = "username#"


@cache
def user_model(table_name: str) -> type[Model]:
    """The PynamoDB model bound to ``table_name`` (declared keys: no DescribeTable)."""
    connection.use_one_session()

    class UsernameIndex(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = USERNAME_INDEX
            projection = AllProjection()

        username = UnicodeAttribute(hash_key=True)

    class UserRecord(Model):
        class Meta:
            region = aws_region()

        user_id = UnicodeAttribute(hash_key=True)
        username = UnicodeAttribute(null=True)  # absent on guard items, so they stay out of the index
        email = UnicodeAttribute(null=True)
        email_verified = BooleanAttribute(default=False)
        name = UnicodeAttribute(null=True)
        password_hash = UnicodeAttribute(null=True)
        guards = UnicodeAttribute(null=True)  # on a guard item: the user_id owning the username
        disabled = BooleanAttribute(null=True)  # `users disable`; absent on users never disabled
        by_username = UsernameIndex()

    UserRecord.Meta.table_name = table_name
    return UserRecord


@cache
def _connection() -> Connection:
    """The connection transactions go through: created on the first create, then reused."""
    connection.use_one_session()
    return Connection(region=aws_region())


def reset_models() -> None:
    user_model.cache_clear()
    _connection.cache_clear()


def _user(record: Any) -> User:
    return User(
        user_id=record.user_id,
        username=record.username,
        email=record.email or "",
        email_verified=bool(record.email_verified),
        name=record.name or "",
        password_hash=record.password_hash or "",
        disabled=bool(record.disabled),
    )


class DynamoUserRepository:
    """``UserRepository`` on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self._model = user_model(table_name)

    def find_by_username(self, username: str) -> User | None:
        """One Query on ``username-index`` (eventually consistent, like every GSI read)."""
        if not username:
            return None
        for record in self._model.by_username.query(normalize_username(username), limit=1):
            return _user(record)
        return None

    def get(self, user_id: str) -> User | None:
        """One GetItem; a guard item's key is never a user."""
        if not user_id or user_id.startswith(GUARD_PREFIX):
            return None
        try:
            record = self._model.get(user_id)
        except self._model.DoesNotExist:
            return None
        return _user(record) if record.username is not None else None

    def create(self, user: User) -> None:
        """The user and its username guard in one transaction; ``UsernameTaken`` if the guard exists."""
        model = self._model
        record = model(
            user.user_id,
            username=user.username,
            email=user.email or None,
            email_verified=user.email_verified,
            name=user.name or None,
            password_hash=user.password_hash,
        )
        guard = model(GUARD_PREFIX + user.username, guards=user.user_id)
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.save(guard, condition=model.user_id.does_not_exist())
                transaction.save(record, condition=model.user_id.does_not_exist())
        except TransactWriteError as error:
            reasons = error.cancellation_reasons
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                raise UsernameTaken(user.username) from None
            raise

    def set_disabled(self, user_id: str, disabled: bool) -> User | None:
        """One UpdateItem, on the condition that a user (not a guard, not nothing) has this key."""
        if not user_id or user_id.startswith(GUARD_PREFIX):
            return None
        model = self._model
        record = model(user_id)
        try:
            record.update(actions=[model.disabled.set(disabled)], condition=model.username.exists())
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                return None
            raise
        return _user(record)
