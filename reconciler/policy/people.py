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
    msg,
)
from reconciler.policy.context import CheckContext, Findings
from reconciler.views import (
    GitHubMatch,
    access_held,
    access_unread,
    unread_message,
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
                    msg(
                        "%(person)s starts on %(start_on)s but already holds: %(held)s",
                        person=person.id,
                        start_on=person.employment.start,
                        held=held,
                    ),
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
                msg(
                    "contractor %(person)s has no NDA signed on or before the start date "
                    "%(start_on)s",
                    person=person.id,
                    start_on=person.employment.start,
                ),
                person.id,
            )
        if status is PersonStatus.ACTIVE and training_overdue(person, today):
            out.add(
                "security-training-overdue",
                None,
                person.email,
                msg(
                    "%(person)s's last security training: %(trained_on)s; it is due once a year",
                    person=person.id,
                    trained_on=person.training,
                )
                if person.training
                else msg(
                    "%(person)s's last security training: never recorded; it is due once a year",
                    person=person.id,
                ),
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
                    msg(
                        "%(person)s's grant via %(role)s ends on %(expires_on)s (%(left)s day(s) "
                        "left); renew it with a new approval if still needed",
                        person=person.id,
                        role=ent.via_role,
                        expires_on=ent.expires,
                        left=left,
                    ),
                    person.id,
                )
        match = ctx.ids.github.get(person.id)
        if match is not None and match.renamed_from is not None and match.account is not None:
            out.add(
                "github-login-renamed",
                System.GITHUB,
                match.account.name,
                msg(
                    "%(person)s's GitHub account %(id)s is now called %(login)s (the repo says "
                    "%(old)s); update the person file",
                    person=person.id,
                    id=str(person.github_id),
                    login=match.account.name,
                    old=match.renamed_from,
                ),
                person.id,
            )
        if match is not None and match.squatter is not None:
            _report_login_taken(ctx, out, person, match, match.squatter)
    people = ctx.desired.people
    for nh in ctx.desired.organization.non_human_accounts:
        owner = people.get(nh.owner)
        if owner is None or ctx.status(owner.id) is PersonStatus.DEPARTED:
            names = {"account": nh.id, "identity": nh.identity, "owner": nh.owner}
            out.add(
                "non-human-owner-departed",
                nh.system,
                nh.identity,
                msg(
                    "non-human account %(account)s (%(identity)s) is owned by %(owner)s, who is "
                    "not in the repo; assign a new owner or disable it",
                    **names,
                )
                if owner is None
                else msg(
                    "non-human account %(account)s (%(identity)s) is owned by %(owner)s, who has "
                    "left; assign a new owner or disable it",
                    **names,
                ),
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
    who = {"login": squatter.name, "person": person.id, "id": str(squatter.id)}
    who["github_id"] = str(person.github_id)
    if match.squatter_is_member:
        out.add(
            "github-login-taken",
            System.GITHUB,
            squatter.name,
            msg(
                "the login %(login)s in %(person)s's file now belongs to another GitHub account "
                "(id %(id)s, not %(github_id)s); it is given nothing on their behalf",
                **who,
            ),
            person.id,
        )
        return
    if match.login is not None:
        text = msg(
            "the login %(login)s in %(person)s's file now belongs to another GitHub account "
            "(id %(id)s, not %(github_id)s), outside the organisation: it is never invited; "
            "%(person)s is invited by account id as %(invited)s. Put the person's current "
            "login in their file",
            invited=match.login,
            **who,
        )
    else:
        text = msg(
            "the login %(login)s in %(person)s's file now belongs to another GitHub account "
            "(id %(id)s, not %(github_id)s), outside the organisation: it is never invited; "
            "%(person)s's invitation is held back. Put the person's current login in their "
            "file",
            **who,
        )
    out.add("github-invitee-login-taken", System.GITHUB, squatter.name, text, person.id)


def check_leaver(ctx: CheckContext, out: Findings, person: Person) -> None:
    held = access_held(ctx.ids, ctx.index, ctx.snapshot, person)
    if not held:
        return
    entry = ctx.access.people.get(person.id)
    ends = entry.access_ends_at if entry else None
    if ends is not None:
        hours = (ctx.now - ends).total_seconds() / 3600
        overdue = hours > 0
        text = msg(
            "%(person)s has left but still holds %(held)s (%(hours)s hours past the "
            "offboarding time %(ends_at)s)",
            person=person.id,
            held=held,
            hours=f"{hours:.1f}",
            ends_at=ends,
        )
    else:
        overdue = True
        text = msg(
            "%(person)s has left but still holds %(held)s (with no recorded offboarding time)",
            person=person.id,
            held=held,
        )
    unread = access_unread(ctx.ids, ctx.snapshot, person)
    if unread:
        text = msg("%(finding)s; %(what)s were not read", finding=text, what=unread_message(unread))
    out.add(
        "leaver-has-access",
        None,
        person.email,
        text,
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
                msg(
                    "%(person)s is named in a conditional binding of %(role)s on %(resource)s "
                    "(%(title)s); the product does not edit conditional bindings: remove it by "
                    "hand",
                    person=person.id,
                    role=binding.role,
                    resource=resource,
                    title=title,
                ),
                person.id,
            )
