"""The pure half of the Google provider, table-driven: canned Directory API payloads -> the
model values the read produces. Every canned payload is first validated against the schema
the official discovery document gives for it (the same converter the sandbox's conformance
tests use, additionalProperties false), so the cases cannot drift from the real API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.model import Account, AppPassword, Grant, GrantKind, OAuthToken, System
from reconciler.providers import google_payloads as payloads
from tests.sandbox.test_google_conformance import conformance_errors

DOMAIN = "example.co.jp"


def valid(payload: dict[str, Any], schema: str) -> dict[str, Any]:
    """The payload, once the discovery schema `schema` accepts it."""
    assert conformance_errors(payload, schema) == [], payload
    return payload


def user(**fields: Any) -> dict[str, Any]:
    return {"id": "104000000000000000001", "primaryEmail": f"taro.yamada@{DOMAIN}", **fields}


USER_CASES: list[tuple[str, dict[str, Any], Account, bool]] = [
    # (case, User payload, Account, holds the domain grant)
    (
        "active user with every field the read asks for",
        user(
            name={"fullName": "Taro Yamada"},
            suspended=False,
            isAdmin=False,
            isEnrolledIn2Sv=True,
            isEnforcedIn2Sv=True,
            lastLoginTime="2026-11-20T08:15:00.000Z",
            creationTime="2024-04-01T00:00:00.000Z",
            aliases=[],
        ),
        Account(
            System.GOOGLE,
            "104000000000000000001",
            f"taro.yamada@{DOMAIN}",
            display_name="Taro Yamada",
            two_factor_enrolled=True,
            two_factor_enforced=True,
            last_login=datetime(2026, 11, 20, 8, 15, tzinfo=UTC),
            created=datetime(2024, 4, 1, tzinfo=UTC),
        ),
        True,
    ),
    (
        "suspended user holds no domain grant",
        user(suspended=True, isEnrolledIn2Sv=True),
        Account(
            System.GOOGLE,
            "104000000000000000001",
            f"taro.yamada@{DOMAIN}",
            suspended=True,
            two_factor_enrolled=True,
        ),
        False,
    ),
    (
        # `archived` is not among the fields the read asks for: an archived account is read
        # by its `suspended` flag alone (the model has no archived state).
        "archived user is read by its suspended flag",
        user(archived=True, suspended=False),
        Account(System.GOOGLE, "104000000000000000001", f"taro.yamada@{DOMAIN}"),
        True,
    ),
    (
        "2SV not enrolled, not enforced",
        user(isEnrolledIn2Sv=False, isEnforcedIn2Sv=False),
        Account(
            System.GOOGLE,
            "104000000000000000001",
            f"taro.yamada@{DOMAIN}",
            two_factor_enrolled=False,
            two_factor_enforced=False,
        ),
        True,
    ),
    (
        "upper-case primary email and aliases are normalised and the aliases sorted",
        user(
            primaryEmail=f"Taro.Yamada@{DOMAIN.upper()}",
            aliases=[f"YAMADA@{DOMAIN}", f"t.yamada@{DOMAIN}"],
        ),
        Account(
            System.GOOGLE,
            "104000000000000000001",
            f"taro.yamada@{DOMAIN}",
            aliases=(f"t.yamada@{DOMAIN}", f"yamada@{DOMAIN}"),
        ),
        True,
    ),
    (
        "super admin holds the domain as ADMIN",
        user(isAdmin=True),
        Account(System.GOOGLE, "104000000000000000001", f"taro.yamada@{DOMAIN}", is_admin=True),
        True,
    ),
    (
        "never signed in: the 1970 epoch is no last login",
        user(lastLoginTime=payloads.NEVER, creationTime="2026-11-24T09:00:00.000Z"),
        Account(
            System.GOOGLE,
            "104000000000000000001",
            f"taro.yamada@{DOMAIN}",
            created=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        ),
        True,
    ),
    (
        # Only id and primaryEmail are always there: absent 2SV flags mean "not said" (None),
        # never "off"; absent name, flags and times take the model's defaults.
        "missing optional fields",
        user(),
        Account(System.GOOGLE, "104000000000000000001", f"taro.yamada@{DOMAIN}"),
        True,
    ),
]


@pytest.mark.parametrize(
    ("payload", "expected", "holds_domain"),
    [c[1:] for c in USER_CASES],
    ids=[c[0] for c in USER_CASES],
)
def test_a_user_payload_becomes_its_account_and_domain_grant(
    payload: dict[str, Any], expected: Account, holds_domain: bool
) -> None:
    found = payloads.account(valid(payload, "User"))
    assert found == expected
    grant = payloads.account_grant(found, DOMAIN.upper())
    role = "ADMIN" if expected.is_admin else "USER"
    assert grant == Grant(GrantKind.GOOGLE_ACCOUNT, DOMAIN, expected.name, role)
    # The read gives the grant to active accounts only; `suspended` is what decides.
    assert (not found.suspended) is holds_domain


def test_users_of_the_primary_domain_are_picked_by_their_normalised_address() -> None:
    page = valid(
        {
            "users": [
                user(primaryEmail=f"Hanako.Sato@{DOMAIN.upper()}"),
                user(id="2", primaryEmail="partner@example.com"),
                user(id="3", primaryEmail=f"jiro@sub.{DOMAIN}"),  # another domain
            ]
        },
        "Users",
    )
    assert payloads.in_domain(page["users"], "Example.co.jp") == [f"hanako.sato@{DOMAIN}"]


GROUP = f"Eng@{DOMAIN}"
MEMBER_CASES: list[tuple[str, dict[str, Any], list[Grant]]] = [
    # (case, Member payload, grants)
    (
        "USER member",
        {"id": "1", "email": f"taro.yamada@{DOMAIN}", "role": "MEMBER", "type": "USER"},
        [Grant(GrantKind.GOOGLE_GROUP, f"eng@{DOMAIN}", f"taro.yamada@{DOMAIN}", "MEMBER")],
    ),
    (
        "GROUP member (a nested group) is a grant to the group's address",
        {"id": "2", "email": f"SRE@{DOMAIN}", "role": "MEMBER", "type": "GROUP"},
        [Grant(GrantKind.GOOGLE_GROUP, f"eng@{DOMAIN}", f"sre@{DOMAIN}", "MEMBER")],
    ),
    (
        "CUSTOMER member (everyone in the org) has no email: no grant",
        {"id": "C01example", "role": "MEMBER", "type": "CUSTOMER"},
        [],
    ),
    (
        "external member keeps its own domain",
        {"id": "3", "email": "Partner@Example.com", "role": "MEMBER", "type": "USER"},
        [Grant(GrantKind.GOOGLE_GROUP, f"eng@{DOMAIN}", "partner@example.com", "MEMBER")],
    ),
    (
        "OWNER",
        {"id": "4", "email": f"hanako.sato@{DOMAIN}", "role": "OWNER", "type": "USER"},
        [Grant(GrantKind.GOOGLE_GROUP, f"eng@{DOMAIN}", f"hanako.sato@{DOMAIN}", "OWNER")],
    ),
    (
        "MANAGER, spelt in lower case",
        {"id": "5", "email": f"jiro.suzuki@{DOMAIN}", "role": "manager", "type": "USER"},
        [Grant(GrantKind.GOOGLE_GROUP, f"eng@{DOMAIN}", f"jiro.suzuki@{DOMAIN}", "MANAGER")],
    ),
    (
        "role left out (members.get with fields=email) is MEMBER",
        {"email": f"taro.yamada@{DOMAIN}"},
        [Grant(GrantKind.GOOGLE_GROUP, f"eng@{DOMAIN}", f"taro.yamada@{DOMAIN}", "MEMBER")],
    ),
]


@pytest.mark.parametrize(
    ("member", "expected"), [c[1:] for c in MEMBER_CASES], ids=[c[0] for c in MEMBER_CASES]
)
def test_a_member_payload_becomes_its_group_grant(
    member: dict[str, Any], expected: list[Grant]
) -> None:
    # As a members.list page item and as a members.get answer: the same grant either way.
    page = valid({"members": [member], "nextPageToken": "next"}, "Members")
    assert payloads.member_grants(GROUP, page["members"]) == expected
    assert payloads.member_grants(GROUP, [valid(member, "Member")]) == expected


def test_a_members_page_keeps_every_grant_in_order() -> None:
    page = valid({"members": [c[1] for c in MEMBER_CASES]}, "Members")
    assert payloads.member_grants(GROUP, page["members"]) == [g for c in MEMBER_CASES for g in c[2]]


SECURITY_CASES: list[tuple[str, str, dict[str, Any], list[OAuthToken], list[AppPassword]]] = [
    # (case, kind, tokens.list or asps.list answer, tokens, app passwords)
    (
        "token with scopes",
        "tokens",
        {
            "kind": "admin#directory#tokenList",
            "items": [
                {
                    "clientId": "123-abc.apps.googleusercontent.com",
                    "displayText": "Example Calendar Sync",
                    "scopes": [
                        "https://www.googleapis.com/auth/calendar",
                        "openid",
                    ],
                    "nativeApp": False,
                    "anonymous": False,
                }
            ],
        },
        [
            OAuthToken(
                f"taro.yamada@{DOMAIN}",
                "123-abc.apps.googleusercontent.com",
                "Example Calendar Sync",
                ("https://www.googleapis.com/auth/calendar", "openid"),
            )
        ],
        [],
    ),
    (
        "token without display text or scopes",
        "tokens",
        {"items": [{"clientId": "456-def.apps.googleusercontent.com"}]},
        [OAuthToken(f"taro.yamada@{DOMAIN}", "456-def.apps.googleusercontent.com")],
        [],
    ),
    ("no tokens: the answer has no items", "tokens", {"kind": "admin#directory#tokenList"}, [], []),
    (
        "ASP",
        "asps",
        {
            "kind": "admin#directory#asps",
            "items": [
                {
                    "codeId": 17,
                    "name": "Old mail client",
                    "creationTime": "1700000000000",
                    "lastTimeUsed": "1710000000000",
                }
            ],
        },
        [],
        [AppPassword(f"taro.yamada@{DOMAIN}", 17, "Old mail client")],
    ),
    (
        "ASP without a name",
        "asps",
        {"items": [{"codeId": 3}]},
        [],
        [AppPassword(f"taro.yamada@{DOMAIN}", 3)],
    ),
    ("no ASPs: the answer has no items", "asps", {}, [], []),
]


@pytest.mark.parametrize(
    ("kind", "answer", "tokens", "asps"),
    [c[1:] for c in SECURITY_CASES],
    ids=[c[0] for c in SECURITY_CASES],
)
def test_token_and_asp_answers_become_tokens_and_app_passwords(
    kind: str, answer: dict[str, Any], tokens: list[OAuthToken], asps: list[AppPassword]
) -> None:
    valid(answer, "Tokens" if kind == "tokens" else "Asps")
    owner = f"Taro.Yamada@{DOMAIN.upper()}"
    assert payloads.user_security({(kind, owner): answer}) == (tuple(tokens), tuple(asps))


def test_security_answers_come_out_in_user_order_whichever_batch_answered_first() -> None:
    token = {"items": [{"clientId": "c1"}]}
    asp = {"items": [{"codeId": 1}]}
    answers = {
        ("tokens", f"zeta@{DOMAIN}"): valid(token, "Tokens"),
        ("asps", f"alpha@{DOMAIN}"): valid(asp, "Asps"),
        ("tokens", f"alpha@{DOMAIN}"): token,
        ("member", GROUP): valid({"email": f"alpha@{DOMAIN}", "role": "MEMBER"}, "Member"),
    }
    tokens, asps = payloads.user_security(answers)
    assert [t.user for t in tokens] == [f"alpha@{DOMAIN}", f"zeta@{DOMAIN}"]
    assert asps == (AppPassword(f"alpha@{DOMAIN}", 1),)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T08:15:00.000Z", datetime(2026, 11, 20, 8, 15, tzinfo=UTC)),
        (payloads.NEVER, None),
        ("", None),
        (None, None),
        ("not a time", None),
    ],
)
def test_times_parse_and_never_or_unreadable_is_none(value: Any, expected: Any) -> None:
    assert payloads.parse_time(value) == expected
