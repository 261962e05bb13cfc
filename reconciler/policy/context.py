"""What every check reads (`CheckContext`, the shared views) and writes (`Findings`); used
only inside `reconciler.policy`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.model import (
    SEVERITY_RANK,
    Account,
    Entitlement,
    Finding,
    Message,
    PersonStatus,
    System,
)
from reconciler.policy.catalogue import finding_type
from reconciler.views import (
    StateViews,
    status_of,
)


@dataclass
class Findings:
    """The findings of one run of the checks. A check names the code (and, where the rule has
    one, its variant) and its words; severity and article come from the catalogue, the one
    place for them."""

    items: list[Finding] = field(default_factory=list)

    def add(
        self,
        code: str,
        system: System | None,
        subject: str,
        text: Message,
        person_id: str | None = None,
        *,
        variant: str | None = None,
    ) -> None:
        """`text` is the finding's words (`msg(...)`), rendered in the reader's language by the
        reports; `Finding.message` keeps their English."""
        severity, article = finding_type(code).rating(variant)
        self.items.append(
            Finding(code, severity, article, system, subject, str(text), person_id, text)
        )


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by code and subject, so the same inputs give the same report."""
    unique = set(findings)
    return tuple(
        sorted(
            unique,
            key=lambda f: (
                SEVERITY_RANK[f.severity],
                f.code,
                f.subject,
                f.system or "",  # a StrEnum: sorts as its value
                f.person_id or "",
                f.message,
            ),
        )
    )


@dataclass(frozen=True)
class CheckContext(StateViews):
    """The views as the checks read them."""

    def accounts(self, system: System) -> tuple[Account, ...]:
        part = self.snapshot.part(system)
        return part.accounts if part else ()

    def status(self, person_id: str) -> PersonStatus:
        return status_of(self.access, person_id)

    def entitlements(self, person_id: str) -> tuple[Entitlement, ...]:
        entry = self.access.people.get(person_id)
        return entry.entitlements if entry else ()
