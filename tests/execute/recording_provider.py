"""A tiny in-memory Provider for testing the EXECUTOR (ordering, error collection, dry run,
refusals, audit records): it keeps one system's grants in a set, applies actions to it
idempotently and records every call. It is not a model of any real API; provider behaviour is
tested against the sandbox with the real client libraries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reconciler.errors import PermanentProviderError
from reconciler.model import (
    Action,
    ActionKind,
    DesiredState,
    Person,
    ReadStatus,
    SnapshotPart,
    System,
)
from reconciler.providers.base import ActionResult

_ADDS = {
    ActionKind.CREATE_ACCOUNT,
    ActionKind.UNSUSPEND_ACCOUNT,
    ActionKind.ADD_GROUP_MEMBER,
    ActionKind.INVITE_ORG_MEMBER,
    ActionKind.ADD_TEAM_MEMBER,
    ActionKind.ADD_BINDING,
    ActionKind.CHANGE_GROUP_ROLE,
    ActionKind.CHANGE_ORG_ROLE,
    ActionKind.CHANGE_TEAM_ROLE,
}


@dataclass
class RecordingProvider:
    system: System
    held: set[tuple[str, str, str]] = field(default_factory=set)  # (target, principal, role)
    fail: set[tuple[ActionKind, str]] = field(default_factory=set)  # (kind, principal) to fail
    crash: set[tuple[ActionKind, str]] = field(default_factory=set)  # raise a non-provider bug
    provider_time: datetime | None = None
    calls: list[Action] = field(default_factory=list)
    log: list[str] | None = None  # shared across providers to see the global order
    acting: tuple[str, ...] = ()  # what acting_as answers

    def acting_as(self) -> tuple[str, ...]:
        return self.acting

    def read(self, desired: DesiredState, now: datetime | None = None) -> SnapshotPart:
        return SnapshotPart(self.system, ReadStatus(self.system, complete=True))

    def read_person(self, person: Person) -> SnapshotPart:
        return SnapshotPart(self.system, ReadStatus(self.system, complete=True))

    def apply(self, action: Action) -> ActionResult:
        self.calls.append(action)
        if self.log is not None:
            self.log.append(f"{action.kind.value}:{action.principal}")
        if (action.kind, action.principal) in self.fail:
            raise PermanentProviderError(f"403 forbidden for {action.principal}", status=403)
        if (action.kind, action.principal) in self.crash:
            raise RuntimeError("provider bug")
        key = (action.target, action.principal, action.role)
        if action.kind in _ADDS:
            changed = key not in self.held
            self.held.add(key)
        else:
            changed = any(h[:2] == key[:2] for h in self.held)
            self.held = {h for h in self.held if h[:2] != key[:2]}
        return ActionResult(action.id, ok=True, changed=changed, provider_time=self.provider_time)
