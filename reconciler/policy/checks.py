"""Runs every policy check over the state views and returns the sorted findings; called by the
planner (`reconciler.planning.changes`), `reconciler.plan` and reports."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

from reconciler.model import (
    DesiredAccess,
    DesiredState,
    Finding,
    Snapshot,
)
from reconciler.policy.accounts import check_accounts
from reconciler.policy.context import CheckContext, Findings, sort_findings
from reconciler.policy.gcp import check_gcp
from reconciler.policy.github import check_github
from reconciler.policy.google_groups import check_google_groups
from reconciler.policy.holds import check_holds
from reconciler.policy.people import check_people
from reconciler.policy.privilege import check_privileged
from reconciler.views import (
    StateViews,
)


def check_findings(
    desired: DesiredState, access: DesiredAccess, snapshot: Snapshot, now: datetime
) -> tuple[Finding, ...]:
    """Every policy observation about desired and actual state at `now`, sorted."""
    return findings_of(StateViews.of(desired, access, snapshot, now))


def findings_of(views: StateViews) -> tuple[Finding, ...]:
    """`check_findings` over views already built (the planner's), so they are built once."""
    ctx = CheckContext(**{f.name: getattr(views, f.name) for f in fields(StateViews)})
    out = Findings()
    check_people(ctx, out)
    check_holds(ctx, out)
    check_accounts(ctx, out)
    check_github(ctx, out)
    check_google_groups(ctx, out)
    check_gcp(ctx, out)
    check_privileged(ctx, out)
    return sort_findings(out.items)
