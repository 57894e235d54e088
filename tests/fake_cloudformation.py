"""A CloudFormation fake that behaves like the real service where ``make deploy`` depends on it.

moto's CloudFormation marks every stack complete (DESIGN §10), so it cannot
show what a failed create leaves behind.  This fake reproduces, from the
CloudFormation and DynamoDB documentation:

- stack states: a create that fails rolls back to ``ROLLBACK_COMPLETE``, or to
  ``ROLLBACK_FAILED`` when it cannot delete what it made; ``UpdateStack``
  refuses every state but the ``*_COMPLETE`` ones ("is in ROLLBACK_COMPLETE
  state and can not be updated"); ``DescribeStacks`` by name no longer finds a
  deleted stack;
- deletion policies: a rollback keeps what is ``Retain`` (an orphan in no
  stack) and deletes what the failed operation created under ``Delete`` or
  ``RetainExceptOnCreate``; a stack delete keeps both retained kinds;
- names are per account: creating a table, secret or alias whose name an
  orphan holds fails, as the real "already exists" does;
- a table with deletion protection cannot be deleted, by CloudFormation either;
- termination protection refuses ``DeleteStack``;
- waiters are botocore's own: its acceptors read this fake's ``DescribeStacks``.

Failures are injected by name: ``fail_once={"create:PepperSecret"}`` fails
that resource the first time a create reaches it (a quota, a missing
permission, a throttle), ``"update:UsersTable"`` the first update that does.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.waiter import NormalizedOperationMethod, Waiter, WaiterModel

from infra.template import parse_template

ACCOUNT, REGION = "111122223333", "eu-west-1"
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
RETAINED = {"Retain", "RetainExceptOnCreate"}
NAME_PROPERTIES = ("TableName", "Name", "AliasName")  # what makes a physical name fixed
_WAITERS: WaiterModel = botocore.session.get_session().get_waiter_model("cloudformation")


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _resolve(value: Any, parameters: dict[str, str]) -> Any:
    """``Ref`` to a parameter and ``Fn::Sub`` of parameters: all a name or a protection flag uses here."""
    if isinstance(value, dict) and "Ref" in value:
        return parameters.get(value["Ref"], value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda match: parameters.get(match[1], match[0]), value["Fn::Sub"])
    return value


@dataclass
class Resource:
    logical_id: str
    type: str
    physical: str
    deletion_policy: str
    protected: bool  # DynamoDB deletion protection: DeleteTable refuses while it is on


@dataclass
class Stack:
    name: str
    template: dict[str, Any]
    parameters: dict[str, str]
    status: str = "CREATE_IN_PROGRESS"
    termination_protection: bool = False
    resources: dict[str, Resource] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)  # the last CreateStack / UpdateStack, as sent

    @property
    def stack_id(self) -> str:
        return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.name}/0a1b2c3d"


class FakeCloudFormation:
    exceptions = type("Exceptions", (), {"ClientError": ClientError})

    def __init__(self, outputs: dict[str, str] | None = None, *, fail_once: set[str] | None = None) -> None:
        self.outputs = outputs or {}
        self.fail_once = set(fail_once or ())
        self.stacks: dict[str, Stack] = {}
        self.account: dict[str, Resource] = {}  # physical name -> resource, in a stack or orphaned
        self.created: dict[str, Any] | None = None  # the first CreateStack's arguments
        self.operations: list[str] = []  # every call that changes something, in order

    def given_stack(self, name: str, status: str, *, termination_protection: bool = False) -> Stack:
        """A stack left in ``status`` by an earlier deploy."""
        self.stacks[name] = Stack(name, {"Resources": {}}, {}, status, termination_protection)
        return self.stacks[name]

    @property
    def live(self) -> dict[str, Stack]:
        """The stacks that exist (a deleted one stays listed as DELETE_COMPLETE, as in the real service)."""
        return {name: stack for name, stack in self.stacks.items() if stack.status != "DELETE_COMPLETE"}

    # ----------------------------------------------------------------------- reads

    def _live(self, name: str) -> Stack | None:
        stack = self.stacks.get(name)
        return stack if stack is not None and stack.status != "DELETE_COMPLETE" else None

    def _existing(self, name: str, operation: str) -> Stack:
        stack = self._live(name)
        if stack is None:
            raise _error("ValidationError", f"Stack with id {name} does not exist", operation)
        return stack

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        stack = self._existing(StackName, "DescribeStacks")
        described: dict[str, Any] = {
            "StackName": stack.name,
            "StackId": stack.stack_id,
            "StackStatus": stack.status,
            "EnableTerminationProtection": stack.termination_protection,
        }
        if stack.status in UPDATABLE:
            described["Outputs"] = [{"OutputKey": key, "OutputValue": value} for key, value in self.outputs.items()]
        return {"Stacks": [described]}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        stack = self._existing(StackName, "DescribeStackEvents")
        return {"StackEvents": [{"ResourceStatusReason": event} for event in reversed(stack.events)]}

    def get_waiter(self, name: str) -> Waiter:
        config = _WAITERS.get_waiter("".join(part.capitalize() for part in name.split("_")))
        config.delay = 0  # the fake settles at once; an unsettled stack would otherwise cost 30 s a poll
        config.max_attempts = 2
        return Waiter(name, config, NormalizedOperationMethod(self.describe_stacks))

    # ----------------------------------------------------------------------- writes

    def create_stack(
        self,
        *,
        StackName: str,
        TemplateBody: str,
        Parameters: Any = (),
        EnableTerminationProtection: bool = False,
        **rest: Any,
    ) -> dict[str, Any]:
        self.operations.append(f"create {StackName}")
        if self._live(StackName) is not None:
            raise _error("AlreadyExistsException", f"Stack [{StackName}] already exists", "CreateStack")
        arguments = {
            "StackName": StackName,
            "TemplateBody": TemplateBody,
            "Parameters": list(Parameters),
            "EnableTerminationProtection": EnableTerminationProtection,
            **rest,
        }
        self.created = self.created or arguments  # the first: the infrastructure (WAF and budget stacks follow)
        template = parse_template(TemplateBody)
        stack = Stack(StackName, template, _parameters(template, Parameters), "CREATE_IN_PROGRESS")
        stack.termination_protection = EnableTerminationProtection
        stack.arguments = arguments
        self.stacks[StackName] = stack
        made = self._make_all(stack, template, "create")
        stack.status = "CREATE_COMPLETE" if made is not None else self._roll_back_create(stack)
        return {"StackId": stack.stack_id}

    def _make_all(self, stack: Stack, template: dict[str, Any], operation: str) -> list[Resource] | None:
        """Create what ``template`` declares and ``stack`` lacks; ``None`` if one fails (the rest stay made)."""
        for logical_id, declared in template["Resources"].items():
            if logical_id in stack.resources:
                continue
            resource = self._declare(stack, logical_id, declared)
            if f"{operation}:{logical_id}" in self.fail_once:
                self.fail_once.discard(f"{operation}:{logical_id}")
                stack.events.append(f"{logical_id}: CREATE_FAILED (injected failure)")
                return None
            if resource.physical in self.account:
                stack.events.append(f"{logical_id}: CREATE_FAILED: {resource.physical} already exists")
                return None
            self.account[resource.physical] = stack.resources[logical_id] = resource
            stack.events.append(f"{logical_id}: CREATE_COMPLETE")
        return list(stack.resources.values())

    def _declare(self, stack: Stack, logical_id: str, declared: dict[str, Any]) -> Resource:
        properties = declared.get("Properties", {})
        names = [_resolve(properties[key], stack.parameters) for key in NAME_PROPERTIES if key in properties]
        protection = str(_resolve(properties.get("DeletionProtectionEnabled", False), stack.parameters))
        return Resource(
            logical_id=logical_id,
            type=declared["Type"],
            physical=names[0] if names else f"{stack.name}-{logical_id}-generated",
            deletion_policy=declared.get("DeletionPolicy", "Delete"),
            protected=declared["Type"] == "AWS::DynamoDB::Table" and protection.lower() == "true",
        )

    def _roll_back_create(self, stack: Stack) -> str:
        """What the failed create made goes, except ``Retain`` (orphaned) and what refuses deletion."""
        status = "ROLLBACK_COMPLETE"
        for resource in reversed(list(stack.resources.values())):
            if resource.deletion_policy == "Retain":
                del stack.resources[resource.logical_id]  # still in the account, in no stack
            elif not self._delete(stack, resource):
                status = "ROLLBACK_FAILED"
        return status

    def _delete(self, stack: Stack, resource: Resource) -> bool:
        if resource.protected:
            stack.events.append(f"{resource.logical_id}: DELETE_FAILED: table has deletion protection")
            return False
        del self.account[resource.physical], stack.resources[resource.logical_id]
        return True

    def update_stack(self, *, StackName: str, TemplateBody: str, Parameters: Any = (), **rest: Any) -> dict[str, Any]:
        stack = self._existing(StackName, "UpdateStack")
        if stack.status not in UPDATABLE:
            message = f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated."
            raise _error("ValidationError", message, "UpdateStack")
        template = parse_template(TemplateBody)
        parameters = _parameters(template, Parameters)
        if (template, parameters) == (stack.template, stack.parameters):
            raise _error("ValidationError", "No updates are to be performed.", "UpdateStack")
        self.operations.append(f"update {StackName}")
        injected = [key for key in self.fail_once if key.removeprefix("update:") in template["Resources"]]
        if injected:
            self.fail_once.discard(injected[0])
            stack.events.append(f"{injected[0]}: UPDATE_FAILED (injected failure)")
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
            return {"StackId": stack.stack_id}
        stack.template, stack.parameters = template, parameters
        stack.arguments = {"StackName": StackName, "TemplateBody": TemplateBody, "Parameters": list(Parameters), **rest}
        kept = [resource for resource in stack.resources.values() if resource.logical_id in template["Resources"]]
        for resource in kept:  # properties and policies change in place
            updated = self._declare(stack, resource.logical_id, template["Resources"][resource.logical_id])
            resource.protected, resource.deletion_policy = updated.protected, updated.deletion_policy
        self._make_all(stack, template, "update")
        stack.status = "UPDATE_COMPLETE"
        return {"StackId": stack.stack_id}

    def delete_stack(self, *, StackName: str, **_: Any) -> dict[str, Any]:
        stack = self._live(StackName)
        if stack is None:
            return {}  # the real call succeeds on a stack that is not there
        if stack.termination_protection:
            message = f"Stack [{StackName}] cannot be deleted while TerminationProtection is enabled"
            raise _error("ValidationError", message, "DeleteStack")
        self.operations.append(f"delete {StackName}")
        stack.status = "DELETE_COMPLETE"
        for resource in list(stack.resources.values()):
            if resource.deletion_policy in RETAINED:
                del stack.resources[resource.logical_id]
            elif not self._delete(stack, resource):
                stack.status = "DELETE_FAILED"
        return {}

    def update_termination_protection(self, *, EnableTerminationProtection: bool, StackName: str) -> dict[str, Any]:
        stack = self._existing(StackName, "UpdateTerminationProtection")
        self.operations.append(f"termination protection {EnableTerminationProtection} {StackName}")
        stack.termination_protection = EnableTerminationProtection
        return {"StackId": stack.stack_id}

    # ----------------------------------------------------------------------- the AWS CLI, as a person runs it

    def run_cli(self, text: str) -> None:
        """Run every ``aws cloudformation ...`` command in ``text`` (a hint ``make deploy`` printed) on this fake."""
        commands = re.findall(r"aws cloudformation [a-z-]+(?: --[a-z-]+(?: \w[\w-]*)?)*", text)
        assert commands, f"no aws cloudformation command in {text!r}"
        for command in commands:
            subcommand, *words = shlex.split(command)[2:]
            options = dict(re.findall(r"--([a-z-]+)(?: (\w[\w-]*))?", " ".join(words)))
            self._cli(subcommand, options)

    def _cli(self, subcommand: str, options: dict[str, str]) -> None:
        name = options["stack-name"]
        if subcommand == "delete-stack":
            self.delete_stack(StackName=name)
        elif subcommand == "update-termination-protection":
            self.update_termination_protection(
                EnableTerminationProtection="enable-termination-protection" in options, StackName=name
            )
        elif subcommand != "describe-stack-events":
            raise AssertionError(f"the fake does not know aws cloudformation {subcommand}")


def _parameters(template: dict[str, Any], given: Any) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values.update({parameter["ParameterKey"]: str(parameter["ParameterValue"]) for parameter in given})
    return values
