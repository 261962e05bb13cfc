"""`Snapshot.fingerprint` changes exactly when the state the planner sees changes: every field
of every value read counts, the order values were read in does not. The generic digest it
replaced (`_canonical` of every value, sorted) is the oracle: two snapshots get the same new
fingerprint iff they got the same old one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest

from reconciler.model import (
    Account,
    AccountKind,
    AppPassword,
    AuditConfig,
    Binding,
    GitHubOrgSettings,
    Grant,
    GrantKind,
    IamPolicy,
    Invitation,
    OAuthToken,
    ReadStatus,
    ServiceAccount,
    ServiceAccountKey,
    Snapshot,
    SnapshotPart,
    System,
    _canonical,
    sha256_json,
)

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def old_fingerprint(snapshot: Snapshot) -> str:
    """The digest before the direct one: the generic walk over sorted values."""
    return sha256_json(
        {
            s.value: _canonical(
                {
                    "complete": p.status.complete,
                    "accounts": sorted(p.accounts, key=lambda a: a.id),
                    "grants": sorted(p.grants),
                    "invitations": sorted(p.invitations, key=lambda i: i.id),
                    "tokens": sorted(p.oauth_tokens, key=lambda t: (t.user, t.client_id)),
                    "asps": sorted(p.app_passwords, key=lambda a: (a.user, a.code_id)),
                    "service_accounts": sorted(p.service_accounts, key=lambda a: a.email),
                    "policies": sorted(p.policies, key=lambda x: x.resource),
                    "github_org": p.github_org,
                }
            )
            for s, p in sorted(snapshot.parts.items())
        }
    )


def parts() -> list[SnapshotPart]:
    google = SnapshotPart(
        System.GOOGLE,
        ReadStatus(System.GOOGLE, True, api_calls=3, round_trips=2),
        accounts=(
            Account(
                System.GOOGLE,
                "1",
                "a@example.co.jp",
                display_name="山田 太郎",
                two_factor_enrolled=True,
                last_login=T0,
                created=T0,
                aliases=("x@example.co.jp",),
            ),
            Account(System.GOOGLE, "2", "b@example.co.jp", kind=AccountKind.USER),
        ),
        grants=(
            Grant(GrantKind.GOOGLE_GROUP, "eng@example.co.jp", "a@example.co.jp", "MEMBER"),
            Grant(GrantKind.GOOGLE_GROUP, "all@example.co.jp", "a@example.co.jp", "MEMBER"),
        ),
        oauth_tokens=(OAuthToken("a@example.co.jp", "client-1", "App", ("scope-a",)),),
        app_passwords=(AppPassword("a@example.co.jp", 7, "mail"),),
    )
    github = SnapshotPart(
        System.GITHUB,
        ReadStatus(System.GITHUB, True),
        invitations=(
            Invitation(11, "example-co", "newbie", None, "direct_member", T0),
            Invitation(
                12,
                "example-co",
                None,
                "x@example.com",
                "direct_member",
                T0,
                failed_at=T0,
                failed_reason="expired",
                inviter="boss",
            ),
        ),
        github_org=GitHubOrgSettings("example-co", 99, True),
    )
    gcp = SnapshotPart(
        System.GCP,
        ReadStatus(System.GCP, False, problems=("x",)),
        service_accounts=(
            ServiceAccount(
                "svc@example-dev.iam.gserviceaccount.com",
                "55",
                "example-dev",
                keys=(
                    ServiceAccountKey(
                        "projects/p/serviceAccounts/s/keys/k", "USER_MANAGED", valid_after=T0
                    ),
                ),
            ),
        ),
        policies=(
            IamPolicy(
                "projects/example-dev",
                "etag1",
                3,
                bindings=(
                    Binding("roles/viewer", ("user:a@example.co.jp",)),
                    Binding(
                        "roles/editor", ("user:b@example.co.jp",), {"title": "t", "expression": "e"}
                    ),
                ),
                audit_configs=(AuditConfig("allServices", ("ADMIN_READ",)),),
            ),
        ),
    )
    return [google, github, gcp]


def changed(value: Any) -> Any:
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, System | GrantKind | AccountKind):
        return next(v for v in type(value) if v is not value)
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, datetime):
        return value.replace(year=value.year + 1)
    if isinstance(value, date):
        return date(value.year + 1, 1, 1)
    if isinstance(value, dict):
        return {**value, "description": "d"}
    if isinstance(value, tuple):
        return (*value, value[0]) if value else ("added",)
    if value is None:
        return T0
    raise AssertionError(type(value))


def variants(value: Any) -> list[Any]:
    """`value` with each of its fields (recursively, into nested dataclass values) changed."""
    out = []
    for f in dataclasses.fields(value):
        old = getattr(value, f.name)
        if dataclasses.is_dataclass(old):
            out += [dataclasses.replace(value, **{f.name: v}) for v in variants(old)]
        elif isinstance(old, tuple) and old and dataclasses.is_dataclass(old[0]):
            out += [dataclasses.replace(value, **{f.name: (v, *old[1:])}) for v in variants(old[0])]
            out.append(dataclasses.replace(value, **{f.name: old[1:]}))
        else:
            out.append(dataclasses.replace(value, **{f.name: changed(old)}))
    return out


def snapshots_with_one_change() -> list[Snapshot]:
    out = []
    base = parts()
    for i, part in enumerate(base):
        for field in dataclasses.fields(part):
            items = getattr(part, field.name)
            if field.name == "status":
                new_status = dataclasses.replace(items, complete=not items.complete)
                swapped = [*base[:i], dataclasses.replace(part, status=new_status), *base[i + 1 :]]
                out.append(Snapshot.of(T0, swapped))
            elif isinstance(items, tuple) and items:
                for variant in variants(items[0]):
                    new_part = dataclasses.replace(part, **{field.name: (variant, *items[1:])})
                    out.append(Snapshot.of(T0, [*base[:i], new_part, *base[i + 1 :]]))
            elif dataclasses.is_dataclass(items):
                for variant in variants(items):
                    new_part = dataclasses.replace(part, **{field.name: variant})
                    out.append(Snapshot.of(T0, [*base[:i], new_part, *base[i + 1 :]]))
    return out


def test_any_change_to_what_was_read_changes_the_fingerprint_as_it_did_before() -> None:
    base = Snapshot.of(T0, parts())
    others = snapshots_with_one_change()
    assert len(others) > 50
    for other in others:
        same_before = old_fingerprint(other) == old_fingerprint(base)
        assert (other.fingerprint() == base.fingerprint()) == same_before
        assert other.fingerprint() != base.fingerprint()  # every variant is a real change


def test_call_counts_and_problem_texts_are_bookkeeping_not_state() -> None:
    base = Snapshot.of(T0, parts())
    counted = [
        dataclasses.replace(
            p, status=dataclasses.replace(p.status, api_calls=999, round_trips=5, problems=())
        )
        for p in parts()
    ]
    assert Snapshot.of(T0, counted).fingerprint() == base.fingerprint()


def test_the_order_values_were_read_in_does_not_change_the_fingerprint() -> None:
    base = Snapshot.of(T0, parts())
    reordered = [
        dataclasses.replace(
            p,
            accounts=p.accounts[::-1],
            grants=p.grants[::-1],
            invitations=p.invitations[::-1],
        )
        for p in parts()[::-1]
    ]
    other = Snapshot.of(datetime(2030, 1, 1, tzinfo=UTC), reordered)  # read time: not state
    assert other.fingerprint() == base.fingerprint()


@pytest.mark.parametrize("system", list(System))
def test_a_missing_system_changes_the_fingerprint(system: System) -> None:
    base = Snapshot.of(T0, parts())
    fewer = Snapshot.of(T0, [p for p in parts() if p.system is not system])
    assert fewer.fingerprint() != base.fingerprint()
