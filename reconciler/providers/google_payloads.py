"""Directory API payloads -> model values: the pure half of the Google Workspace provider,
called by `providers.google_workspace` on every answer it gets (users.list / users.get
users, members.list / members.get members, tokens.list and asps.list items).

Kept apart from the transport (calls, retries, paging, batches, error translation) so what
a payload *means* is one set of small functions that take decoded JSON and return values:
no I/O, no client library, no clock. They are tested table-driven with canned payloads
checked against the official discovery document's schemas
(tests/providers/test_google_payloads.py). Every email goes through the model's one
normaliser, `normalise_email`, so an address read here compares equal to the repo's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from reconciler.model import (
    Account,
    AppPassword,
    Grant,
    GrantKind,
    OAuthToken,
    System,
    normalise_email,
)

Payload = Mapping[str, Any]  # one decoded JSON object of the Directory API

# lastLoginTime for an account that never signed in (observed API behaviour).
NEVER = "1970-01-01T00:00:00.000Z"
# The kinds of per-user answers `user_security` turns into values.
TOKENS = "tokens"
ASPS = "asps"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time, or None when absent, unreadable or the API's "never" epoch: a
    never-used account must not look like one last seen in 1970."""
    if not value or value == NEVER:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def account(user: Payload) -> Account:
    """One User resource as an Account. 2SV flags stay None when the answer leaves them out
    (the API did not say), so a missing field is never read as "2SV off"."""
    return Account(
        system=System.GOOGLE,
        id=str(user["id"]),
        name=normalise_email(user["primaryEmail"]),
        display_name=str((user.get("name") or {}).get("fullName", "")),
        suspended=bool(user.get("suspended", False)),
        is_admin=bool(user.get("isAdmin", False)),
        two_factor_enrolled=user.get("isEnrolledIn2Sv"),
        two_factor_enforced=user.get("isEnforcedIn2Sv"),
        last_login=parse_time(user.get("lastLoginTime")),
        created=parse_time(user.get("creationTime")),
        aliases=tuple(sorted(normalise_email(a) for a in user.get("aliases", []))),
    )


def primary_email(user: Payload) -> str:
    """A User resource's primary address, normalised."""
    return normalise_email(user["primaryEmail"])


def in_domain(users: Iterable[Payload], domain: str) -> list[str]:
    """The primary addresses of the users in `domain` (our own accounts: the ones whose
    OAuth tokens and app passwords the read lists), in the order given."""
    suffix = "@" + normalise_email(domain)
    return [e for e in (primary_email(u) for u in users) if e.endswith(suffix)]


def account_grant(found: Account, domain: str) -> Grant:
    """The grant an active account is: membership of the domain, as ADMIN for a super admin.
    A suspended account holds no such grant (the caller leaves it out)."""
    return Grant(
        GrantKind.GOOGLE_ACCOUNT,
        normalise_email(domain),
        found.name,
        "ADMIN" if found.is_admin else "USER",
    )


def member_grants(group_email: str, members: Iterable[Payload]) -> list[Grant]:
    """Member resources of one group as grants, whatever the member's type (USER, GROUP, an
    address outside the domain); the role upper-cased, MEMBER when left out.

    CUSTOMER members ("everyone in the org") have no email and are not a person's grant;
    they are left to the drift report rather than invented as a principal."""
    group = normalise_email(group_email)
    return [
        Grant(
            GrantKind.GOOGLE_GROUP,
            group,
            normalise_email(m["email"]),
            str(m.get("role", "MEMBER")).upper(),
        )
        for m in members
        if m.get("email")
    ]


def oauth_tokens(user: str, answer: Payload) -> list[OAuthToken]:
    """A tokens.list answer (`items`, absent when the user has none) for `user`."""
    owner = normalise_email(user)
    return [
        OAuthToken(
            user=owner,
            client_id=str(item["clientId"]),
            display_text=str(item.get("displayText", "")),
            scopes=tuple(item.get("scopes", [])),
        )
        for item in answer.get("items", [])
    ]


def app_passwords(user: str, answer: Payload) -> list[AppPassword]:
    """An asps.list answer (`items`, absent when the user has none) for `user`."""
    owner = normalise_email(user)
    return [
        AppPassword(user=owner, code_id=int(item["codeId"]), name=str(item.get("name", "")))
        for item in answer.get("items", [])
    ]


def user_security(
    answers: Mapping[tuple[str, str], Payload],
) -> tuple[tuple[OAuthToken, ...], tuple[AppPassword, ...]]:
    """Every user's tokens.list and asps.list answers, keyed ("tokens" | "asps", user), as
    tokens and app passwords in the order of user (the read's values do not depend on which
    batch answered first). Other keys are ignored."""
    tokens: list[OAuthToken] = []
    asps: list[AppPassword] = []
    for (kind, user), answer in sorted(answers.items(), key=lambda kv: kv[0]):
        if kind == TOKENS:
            tokens.extend(oauth_tokens(user, answer))
        elif kind == ASPS:
            asps.extend(app_passwords(user, answer))
    return tuple(tokens), tuple(asps)
