"""The provider seam: what the executor and the CLI need from each system's provider."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from reconciler.model import Action, DesiredState, Person, SnapshotPart, System


@dataclass(frozen=True)
class ActionResult:
    """What happened when one action was applied."""

    action_id: str
    ok: bool
    changed: bool  # False when the system already matched (idempotent re-run)
    message: str = ""
    provider_time: datetime | None = None  # the system's own timestamp, when the API gives one


class Provider(Protocol):
    """One system's reads and writes, behind which the client library stays hidden.

    Besides reading and applying, a provider says who it acts as (`acting_as`), so the
    executor can refuse any action that names the tool's own identity without
    anyone having to list it in `protected_accounts`."""

    system: System

    def read(self, desired: DesiredState, now: datetime | None = None) -> SnapshotPart:
        """Read the system's actual state for everything in scope. Never raises for a
        failed page: the part comes back with `status.complete = False` and the reason.
        `now` is the run's instant (the shell owns the clock): what a read decides by date,
        such as who may be invited, follows it, so a what-if or a benchmark world agrees."""
        ...

    def read_person(self, person: Person) -> SnapshotPart:
        """Read only what names one person, with reverse look-ups (groups of a user,
        membership of a login, policies naming the user), so emergency offboarding costs
        the same in a 10-person and a 10,000-person organisation."""
        ...

    def apply(self, action: Action) -> ActionResult:
        """Apply one action idempotently; raise a ProviderError subclass on failure."""
        ...

    def acting_as(self) -> tuple[str, ...]:
        """The identities this provider authenticates as, normalised and spelt as actions
        name principals: Google the delegated admin's email (and the service account's email
        when the credentials know it), GitHub the token user's login, GCP
        "serviceAccount:<email>". Empty when the provider acts as nothing an action could
        name (a GitHub App installation is a bot, never an org member).

        Learnt once and cached. When the identity cannot be learnt (the API call fails), this
        RAISES a ProviderError rather than return (): an apply must refuse to start instead
        of running without its own-identity guard."""
        ...


@runtime_checkable
class ListsRoles(Protocol):
    """A provider that can say which role names exist (GCP IAM), so `plan` and `apply` can
    refuse a role roles.yaml names that the system does not have before anything changes."""

    def role_names(self, parents: Iterable[str]) -> frozenset[str]:
        """Every role name under each parent ("" = the predefined roles); raises a
        ProviderError when a list cannot be read."""
        ...


@dataclass(frozen=True)
class PostedComment:
    """The pull-request comment `PostsComments.upsert_issue_comment` left: its id, its web
    address, and whether it was created (True) or an earlier one was updated in place."""

    id: int
    url: str
    created: bool


@runtime_checkable
class PostsComments(Protocol):
    """A provider that can keep one marked comment on a pull request up to date (GitHub), so
    `plan --pr-comment` posts the plan for review without touching a client library."""

    def upsert_issue_comment(
        self, repository: str, number: int, body: str, marker: str
    ) -> PostedComment:
        """Edit the comment carrying `marker`, or create it; raises a ProviderError."""
        ...


class DocumentCache(Protocol):
    """One JSON document a provider keeps between runs (the GitHub provider's conditional
    request validators and the data they validate), handed in by whoever builds the providers
    so that providers stay the only code talking to APIs and the state store the only code
    that persists anything (`reconciler.state.documents.StoredDocument`)."""

    def load(self) -> Any:
        """The document last saved, or None when there is none; raises a ReconcilerError
        when it exists but cannot be read (the provider then ignores it and reads in full)."""
        ...

    def save(self, document: Any) -> None:
        """Replace the document whole; raises a ReconcilerError when it cannot be written."""
        ...
