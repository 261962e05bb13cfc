"""What a system whose read was incomplete may still receive, and how to say what was held back;
used by the planner's hold-back (`changes`) and the executor's last check (`safety`).

One rule for both layers: a failed read hides what exists, so anything planned from it may be
wrong in either direction (an invitation to someone who is already a member, an account that
already exists, a removal of something we merely did not see). The only change that stays safe
is removing a leaver's grant that the partial read did show: that grant is certainly real, and
leaving it in place is the greater risk (policy 第5.2条3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from reconciler.model import (
    Action,
    ActionKind,
    Grant,
    GrantKind,
    Message,
    Snapshot,
    System,
    msg,
    normalise_email,
    verbatim,
)

_GRANT_KIND_OF_REMOVAL = {
    ActionKind.REMOVE_GROUP_MEMBER: GrantKind.GOOGLE_GROUP,
    ActionKind.REMOVE_ORG_MEMBER: GrantKind.GITHUB_ORG,
    ActionKind.REMOVE_TEAM_MEMBER: GrantKind.GITHUB_TEAM,
    ActionKind.REMOVE_OUTSIDE_COLLABORATOR: GrantKind.GITHUB_COLLABORATOR,
    ActionKind.REMOVE_BINDING: GrantKind.GCP_BINDING,
}

# How a held-back change is counted in the one note per system: its category, and the
# category's words for one and for several (two messages, so each language words a count its
# own way). Equal counts are listed in the order of the category names.
_CATEGORY = {
    ActionKind.CREATE_ACCOUNT: "account creation",
    ActionKind.UNSUSPEND_ACCOUNT: "unsuspension",
    ActionKind.INVITE_ORG_MEMBER: "invitation",
    ActionKind.CHANGE_GROUP_ROLE: "role change",
    ActionKind.CHANGE_ORG_ROLE: "role change",
    ActionKind.CHANGE_TEAM_ROLE: "role change",
}
_ADDITION, _REMOVAL = "addition", "removal"
_COUNTED: dict[str, tuple[Callable[[int], Message], Callable[[int], Message]]] = {
    "account creation": (
        lambda n: msg("%(count)s account creation", count=n),
        lambda n: msg("%(count)s account creations", count=n),
    ),
    "unsuspension": (
        lambda n: msg("%(count)s unsuspension", count=n),
        lambda n: msg("%(count)s unsuspensions", count=n),
    ),
    "invitation": (
        lambda n: msg("%(count)s invitation", count=n),
        lambda n: msg("%(count)s invitations", count=n),
    ),
    "role change": (
        lambda n: msg("%(count)s role change", count=n),
        lambda n: msg("%(count)s role changes", count=n),
    ),
    "addition": (
        lambda n: msg("%(count)s addition", count=n),
        lambda n: msg("%(count)s additions", count=n),
    ),
    "removal": (
        lambda n: msg("%(count)s removal", count=n),
        lambda n: msg("%(count)s removals", count=n),
    ),
}


def allowed_on_incomplete_read(action: Action, snapshot: Snapshot) -> bool:
    """True when `action` may run although its system's read was incomplete (or missing):
    only a leaver's removal of something the snapshot shows."""
    return action.offboarding and action.is_removal and shown_by_snapshot(action, snapshot)


def shown_by_snapshot(a: Action, snapshot: Snapshot) -> bool:
    """True when the snapshot shows the thing the removal removes."""
    part = snapshot.part(a.system)
    if part is None:
        return False
    kind = _GRANT_KIND_OF_REMOVAL.get(a.kind)
    if kind is not None:
        # Grant.key ignores the role except for GCP, where each role is its own binding.
        want = Grant(kind, a.target, a.principal, a.role).key
        return any(g.key == want for g in part.grants)
    if a.kind in (ActionKind.SUSPEND_ACCOUNT, ActionKind.SIGN_OUT):
        return any(normalise_email(x.name) == a.principal for x in part.accounts)
    if a.kind is ActionKind.REVOKE_TOKEN:
        return any(
            t.user == a.principal and t.client_id == a.param("client_id") for t in part.oauth_tokens
        )
    if a.kind is ActionKind.DELETE_APP_PASSWORD:
        return any(
            x.user == a.principal and str(x.code_id) == a.param("code_id")
            for x in part.app_passwords
        )
    if a.kind is ActionKind.CANCEL_INVITATION:
        return any(str(i.id) == a.param("invitation_id") for i in part.invitations)
    return False


def read_problem(snapshot: Snapshot, system: System) -> Message:
    """Why `system`'s read is incomplete, in the words the provider gave (already redacted)."""
    part = snapshot.part(system)
    if part is None:
        return msg("not read")
    if not part.status.problems:
        return msg("no reason given")
    return verbatim("; ".join(part.status.problems))


def held_back_note(system: System, why: Message, held: Iterable[Action]) -> Message:
    """The one line a plan shows per system whose changes were held back, e.g. "github read
    incomplete (members page 2 failed: ...): 18 change(s) held back: 17 invitations, 1 role
    change". Counting by kind keeps the note short however many people it concerns."""
    counts: Counter[str] = Counter()
    for a in held:
        counts[_CATEGORY.get(a.kind, _REMOVAL if a.is_removal else _ADDITION)] += 1
    total = sum(counts.values())
    parts = tuple(
        _COUNTED[category][0 if n == 1 else 1](n)
        for category, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return msg(
        "%(system)s read incomplete (%(why)s): %(total)s change(s) held back: %(parts)s",
        system=system.value,
        why=why,
        total=total,
        parts=parts,
    )
