"""Checks about the people in the repo: leavers who still hold access, access before the start
date, contractors' NDAs, security training overdue, expiring grants, GitHub logins renamed or
taken, non-human accounts whose owner left; called by `reconciler.policy.checks`."""

from __future__ import annotations

from datetime import date

from reconciler.model import (
    Account,
    EmploymentType,
    Person,
    PersonStatus,
    System,
)
from reconciler.policy.context import CheckContext, Findings
from reconciler.views import (
    GitHubMatch,
    access_held,
    access_unread,
)

EXPIRING_SOON_DAYS = 7  # an extra grant ending within a week is worth a heads-up


def check_people(ctx: CheckContext, out: Findings) -> None:
    today = ctx.now.date()
    for person in ctx.everyone:
        status = ctx.status(person.id)
        if status is PersonStatus.DEPARTED:
            check_leaver(ctx, out, person)
        elif status is PersonStatus.NOT_STARTED:
            held = access_held(ctx.ids, ctx.index, ctx.snapshot, person)
            if held:
                out.add(
                    "access-before-start",
                    None,
                    person.email,
                    f"{person.id} starts on {person.employment.start} but already holds: "
                    + ", ".join(held),
                    person.id,
                )
        if status is not PersonStatus.DEPARTED and (
            person.employment.type is EmploymentType.CONTRACTOR
            and (person.employment.nda is None or person.employment.nda > person.employment.start)
        ):
            out.add(
                "contractor-nda",
                None,
                person.email,
                f"contractor {person.id} has no NDA signed on or before the start date "
                f"{person.employment.start}",
                person.id,
            )
        if status is PersonStatus.ACTIVE and training_overdue(person, today):
            last = person.training.isoformat() if person.training else "never recorded"
            out.add(
                "security-training-overdue",
                None,
                person.email,
                f"{person.id}'s last security training: {last}; it is due once a year",
                person.id,
            )
        for ent in ctx.entitlements(person.id):
            if ent.approved_by is None or ent.expires is None:
                continue
            left = (ent.expires - today).days
            if 0 <= left <= EXPIRING_SOON_DAYS:
                out.add(
                    "expiring-grant",
                    ent.grant.system,
                    ent.grant.describe(),
                    f"{person.id}'s grant via {ent.via_role} ends on {ent.expires} "
                    f"({left} day(s) left); renew it with a new approval if still needed",
                    person.id,
                )
        match = ctx.ids.github.get(person.id)
        if match is not None and match.renamed_from is not None and match.account is not None:
            out.add(
                "github-login-renamed",
                System.GITHUB,
                match.account.name,
                f"{person.id}'s GitHub account {person.github_id} is now called "
                f"{match.account.name} (the repo says {match.renamed_from}); "
                "update the person file",
                person.id,
            )
        if match is not None and match.squatter is not None:
            _report_login_taken(ctx, out, person, match, match.squatter)
    people = ctx.desired.people
    for nh in ctx.desired.organization.non_human_accounts:
        owner = people.get(nh.owner)
        if owner is None or ctx.status(owner.id) is PersonStatus.DEPARTED:
            why = "is not in the repo" if owner is None else "has left"
            out.add(
                "non-human-owner-departed",
                nh.system,
                nh.identity,
                f"non-human account {nh.id} ({nh.identity}) is owned by {nh.owner}, who {why}; "
                "assign a new owner or disable it",
                nh.owner if owner else None,
            )


def training_overdue(person: Person, today: date) -> bool:
    """True when the person's last security training is more than a year before `today`, or
    not recorded (policy 第11.1条: yearly). Also shown by the inventory."""
    if person.training is None:
        return True
    try:
        due = person.training.replace(year=person.training.year + 1)
    except ValueError:  # trained on 29 February: due on 1 March a year later
        due = date(person.training.year + 1, 3, 1)
    return today > due


def _report_login_taken(
    ctx: CheckContext, out: Findings, person: Person, match: GitHubMatch, squatter: Account
) -> None:
    """Another account (a different numeric id) holds the login in the person file. Inside
    the org it is an unmanaged member (第5.1条) and removed as a stranger; outside it, the read
    found it while resolving the person for an invitation, and access issued to it would go
    to someone nobody assessed or approved (第5.2条1): it is never invited."""
    taken = f"the login {squatter.name} in {person.id}'s file now belongs to another GitHub "
    taken += f"account (id {squatter.id}, not {person.github_id})"
    if match.squatter_is_member:
        out.add(
            "github-login-taken",
            System.GITHUB,
            squatter.name,
            f"{taken}; it is given nothing on their behalf",
            person.id,
        )
        return
    if match.login is not None:
        then = f"{person.id} is invited by account id as {match.login}"
    else:
        then = f"{person.id}'s invitation is held back"
    out.add(
        "github-invitee-login-taken",
        System.GITHUB,
        squatter.name,
        f"{taken}, outside the organisation: it is never invited; {then}. Put the person's "
        "current login in their file",
        person.id,
    )


def check_leaver(ctx: CheckContext, out: Findings, person: Person) -> None:
    held = access_held(ctx.ids, ctx.index, ctx.snapshot, person)
    if not held:
        return
    entry = ctx.access.people.get(person.id)
    ends = entry.access_ends_at if entry else None
    if ends is not None:
        hours = (ctx.now - ends).total_seconds() / 3600
        overdue = hours > 0
        when = f"{hours:.1f} hours past the offboarding time {ends.isoformat()}"
    else:
        overdue, when = True, "with no recorded offboarding time"
    unread = access_unread(ctx.ids, ctx.snapshot, person)
    unknown = f"; {unread} were not read" if unread else ""
    out.add(
        "leaver-has-access",
        None,
        person.email,
        f"{person.id} has left but still holds {', '.join(held)} ({when}){unknown}",
        person.id,
        variant=None if overdue else "before-offboarding-time",
    )
    for member in sorted(ctx.ids.iam_members_of(person)):
        for resource, binding in ctx.index.conditional.get(member, ()):
            title = (binding.condition or {}).get("title", "untitled")
            out.add(
                "leaver-conditional-binding",
                System.GCP,
                f"{resource} {binding.role} {member}",
                f"{person.id} is named in a conditional binding of {binding.role} on "
                f"{resource} ({title}); the product does not edit conditional bindings: "
                "remove it by hand",
                person.id,
            )
