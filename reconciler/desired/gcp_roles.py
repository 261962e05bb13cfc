"""Which GCP roles roles.yaml names, and which of them IAM does not know; pure, called by the
CLI's `plan` and `apply` with the role names the GCP provider listed (the I/O is theirs).

`validate` can only check a role name's form (`checking.GCP_ROLE`): `roles/loging.viewer` is
well formed, and only IAM knows it does not exist. Granting it would fail at setIamPolicy
halfway through an apply, after other changes were made; checked before anything is read or
changed, the typo is refused at its line with the closest real role.
"""

from __future__ import annotations

from reconciler.desired.checking import suggest
from reconciler.desired.parsing import dotted
from reconciler.desired.problems import DesiredStateError
from reconciler.model import DesiredState

PREDEFINED = ""  # ListRoles' parent for the predefined roles


def parent_of(role: str) -> str:
    """The ListRoles parent that holds `role`: "" for `roles/X`, `projects/P` for
    `projects/P/roles/X`, `organizations/N` for `organizations/N/roles/X`."""
    head, _, _ = role.partition("/roles/")
    return PREDEFINED if role.startswith("roles/") else head


def role_parents(desired: DesiredState) -> tuple[str, ...]:
    """Every ListRoles parent the roles named in roles.yaml live under, sorted."""
    return tuple(sorted({parent_of(g.role) for role in desired.roles.values() for g in role.gcp}))


def unknown_roles(desired: DesiredState, known: frozenset[str]) -> list[DesiredStateError]:
    """One error per place roles.yaml names a role that is not in `known` (the names IAM
    listed under `role_parents`), with the closest known role of the same parent."""
    errors: list[DesiredStateError] = []
    for role in desired.roles.values():
        for i, grant in enumerate(role.gcp):
            if grant.role in known:
                continue
            parent = parent_of(grant.role)
            near = sorted(k for k in known if parent_of(k) == parent)
            where = f"in {parent}" if parent else "among the predefined roles"
            source = grant.source or role.source
            errors.append(
                DesiredStateError(
                    file=source.file if source else "roles.yaml",
                    line=source.line if source else 1,
                    column=source.column if source else 1,
                    field=dotted((role.name, "gcp", i, "role")),
                    message=f"unknown GCP role '{grant.role}': IAM has no such role {where}"
                    f"{suggest(grant.role, near)}",
                )
            )
    return sorted(errors)
