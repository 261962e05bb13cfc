"""Checks of the standing emergency holds against the repo; called by
`reconciler.policy.checks`."""

from __future__ import annotations

from reconciler.desired.holding import repo_caught_up
from reconciler.model import MessageParam, msg
from reconciler.policy.context import CheckContext, Findings


def check_holds(ctx: CheckContext, out: Findings) -> None:
    """An emergency hold the repo has not caught up with: reality and the repo disagree, and
    only the hold stops the next run from giving the access back (policy 第5.2条3)."""
    for hold in ctx.holds:
        if repo_caught_up(ctx.desired, hold):
            continue
        person = ctx.desired.people.get(hold.person_id)
        names: dict[str, MessageParam] = {
            "person": hold.person_id,
            "day_on": hold.day,
            "run": hold.run_id,
            "actor": hold.actor,
        }
        if person is None:
            text = msg(
                "%(person)s was offboarded in an emergency on %(day_on)s (run %(run)s, by "
                "%(actor)s) but their file is not in the repo any more; commit `employment.end: "
                "%(day_on)s` to people/%(person)s.yaml. Until then the hold keeps them "
                "offboarded.",
                **names,
            )
        elif person.employment.end is None:
            text = msg(
                "%(person)s was offboarded in an emergency on %(day_on)s (run %(run)s, by "
                "%(actor)s) but their file still has no end date; commit `employment.end: "
                "%(day_on)s` to people/%(person)s.yaml. Until then the hold keeps them "
                "offboarded.",
                **names,
            )
        else:
            text = msg(
                "%(person)s was offboarded in an emergency on %(day_on)s (run %(run)s, by "
                "%(actor)s) but their file still ends on %(end_on)s; commit `employment.end: "
                "%(day_on)s` to people/%(person)s.yaml. Until then the hold keeps them "
                "offboarded.",
                end_on=person.employment.end,
                **names,
            )
        out.add(
            "emergency-hold-not-in-repo",
            None,
            hold.email or hold.person_id,
            text,
            hold.person_id,
        )
