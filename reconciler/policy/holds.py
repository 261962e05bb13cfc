"""Checks of the standing emergency holds against the repo; called by
`reconciler.policy.checks`."""

from __future__ import annotations

from reconciler.desired.holding import repo_caught_up
from reconciler.policy.context import CheckContext, Findings


def check_holds(ctx: CheckContext, out: Findings) -> None:
    """An emergency hold the repo has not caught up with: reality and the repo disagree, and
    only the hold stops the next run from giving the access back (policy 第5.2条3)."""
    for hold in ctx.holds:
        if repo_caught_up(ctx.desired, hold):
            continue
        person = ctx.desired.people.get(hold.person_id)
        why = (
            "is not in the repo any more"
            if person is None
            else "still has no end date"
            if person.employment.end is None
            else f"still ends on {person.employment.end}"
        )
        out.add(
            "emergency-hold-not-in-repo",
            None,
            hold.email or hold.person_id,
            f"{hold.person_id} was offboarded in an emergency on {hold.day} (run {hold.run_id}, "
            f"by {hold.actor}) but their file {why}; commit `employment.end: {hold.day}` to "
            "people/" + f"{hold.person_id}.yaml. Until then the hold keeps them offboarded.",
            hold.person_id,
        )
