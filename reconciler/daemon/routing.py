"""Which job a verified GitHub webhook delivery asks for: a push to the desired-state branch
reconciles; `organization`, `member`, `membership` and `team` events from the org re-read the
people they name (a team event, which names nobody, the whole org); everything else is
ignored. Called by the webhook endpoint after the signature check."""

from __future__ import annotations

from typing import Any

from reconciler.daemon.jobs import Job, JobKind

ORG_EVENTS = frozenset({"organization", "member", "membership", "team"})


def _login(payload: dict[str, Any], *path: str) -> str | None:
    value: Any = payload
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value else None


def job_for(event: str, payload: dict[str, Any], *, branch: str) -> Job | None:
    """The job, or None for a delivery that asks for nothing (another branch, a ping)."""
    if event == "push":
        on_branch = payload.get("ref") == f"refs/heads/{branch}"
        return Job(JobKind.RECONCILE, "push") if on_branch else None
    if event not in ORG_EVENTS:
        return None
    logins = {
        login
        for login in (
            _login(payload, "member", "login"),  # member, membership
            _login(payload, "membership", "user", "login"),  # organization
        )
        if login
    }
    if logins:
        return Job(JobKind.PERSON_DRIFT, event, frozenset(logins))
    return Job(JobKind.DRIFT, event)  # a team created, renamed or deleted
