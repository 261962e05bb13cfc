"""The sandbox's IAM roles: the predefined roles of `predefined_roles.json` plus the world's
custom roles (`gcp.roles`); used by IAM Admin (`iam_grpc`: ListRoles, GetRole) and by
Resource Manager's setIamPolicy (`google_cloud`), which refuses a binding to a role that
does not exist, as the real API does.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

PREDEFINED_ROLES = Path(__file__).parent / "predefined_roles.json"
# Role.name as the IAM reference spells it: predefined "roles/X", custom
# "projects/P/roles/X" or "organizations/N/roles/X", custom ids being 3 to 64 letters,
# digits, underscores and periods (CreateRoleRequest.role_id).
ROLE_NAME = re.compile(
    r"roles/[A-Za-z0-9_.]+"
    r"|(?:projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|organizations/[0-9]+)/roles/[A-Za-z0-9_.]{3,64}"
)

_predefined: dict[str, dict[str, Any]] | None = None
_lock = threading.Lock()


def predefined_roles() -> dict[str, dict[str, Any]]:
    """Predefined role name -> {"title"}, read once per process (the file does not change)."""
    global _predefined  # noqa: PLW0603 - a process-wide cache of an immutable file
    with _lock:
        if _predefined is None:
            data = json.loads(PREDEFINED_ROLES.read_text(encoding="utf-8"))
            _predefined = {name: {"title": title} for name, title in data["roles"].items()}
        return _predefined


def all_roles(gcp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every role of a world's "gcp" section: the predefined ones, then `gcp.roles` (custom
    roles, or a predefined role's definition with its permissions, which wins)."""
    return {**predefined_roles(), **dict(gcp.get("roles") or {})}


def grantable(gcp: dict[str, Any], role: str) -> bool:
    """A role a binding may name: one that exists and is not a deleted custom role."""
    found = all_roles(gcp).get(role)
    return found is not None and not found.get("deleted")
