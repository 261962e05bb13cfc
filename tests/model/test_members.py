"""The one IAM member normaliser (`reconciler.model.normalise_member`) and the identity part
(`member_identity`) that the policy checks, planner, safety check, executor and GCP provider
all compare principals with: each member kind, the case of each part, `domain:`, `deleted:`."""

from __future__ import annotations

import pytest

from reconciler.model import gcp_user, member_identity, normalise_member

NORMALISED = [
    ("user:Alice@Example.co.jp", "user:alice@example.co.jp"),
    ("USER:alice@example.co.jp", "user:alice@example.co.jp"),
    ("  user:alice@example.co.jp \n", "user:alice@example.co.jp"),
    ("group:Eng@Example.co.jp", "group:eng@example.co.jp"),
    ("serviceAccount:Deploy@Example-Prod.iam.gserviceaccount.com",
     "serviceAccount:deploy@example-prod.iam.gserviceaccount.com"),
    # the type word keeps the API's spelling: setIamPolicy is sent what a grant carries
    ("serviceaccount:deploy@example-prod.iam.gserviceaccount.com",
     "serviceAccount:deploy@example-prod.iam.gserviceaccount.com"),
    ("domain:Example.co.jp", "domain:example.co.jp"),
    ("Domain:example.co.jp", "domain:example.co.jp"),
    # deleted: the inner member as above, the uid (an opaque id) exactly as written
    ("deleted:user:Taro@Example.co.jp?uid=1234567890AbC",
     "deleted:user:taro@example.co.jp?uid=1234567890AbC"),
    ("Deleted:ServiceAccount:Old@Example-Prod.iam.gserviceaccount.com?uid=42",
     "deleted:serviceAccount:old@example-prod.iam.gserviceaccount.com?uid=42"),
    ("deleted:group:Former@Example.co.jp?uid=7", "deleted:group:former@example.co.jp?uid=7"),
    ("allusers", "allUsers"),
    ("allAuthenticatedUsers", "allAuthenticatedUsers"),
    # bare emails and GitHub logins, so one helper serves every system's principals
    ("Alice@Example.co.jp", "alice@example.co.jp"),
    ("TYamada", "tyamada"),
    # unknown or case-sensitive kinds compare exactly
    ("principal://iam.googleapis.com/locations/global/workforcePools/Pool/subject/Sub",
     "principal://iam.googleapis.com/locations/global/workforcePools/Pool/subject/Sub"),
]  # fmt: skip


@pytest.mark.parametrize(("member", "expected"), NORMALISED)
def test_normalise_member(member: str, expected: str) -> None:
    assert normalise_member(member) == expected
    assert normalise_member(expected) == expected  # idempotent: a grant re-normalises to itself


IDENTITIES = [
    ("user:Alice@Example.co.jp", "alice@example.co.jp"),
    ("alice@example.co.jp", "alice@example.co.jp"),
    ("group:Eng@Example.co.jp", "eng@example.co.jp"),
    ("serviceAccount:Deploy@p.iam.gserviceaccount.com", "deploy@p.iam.gserviceaccount.com"),
    ("TYamada", "tyamada"),
    # a domain is everyone in it, never one user: it keeps its type
    ("domain:Example.co.jp", "domain:example.co.jp"),
    # a deleted account is not the live account of that address: it keeps its type and uid
    ("deleted:user:Alice@Example.co.jp?uid=99", "deleted:user:alice@example.co.jp?uid=99"),
]


@pytest.mark.parametrize(("member", "expected"), IDENTITIES)
def test_member_identity(member: str, expected: str) -> None:
    assert member_identity(member) == expected


def test_no_domain_or_deleted_member_has_the_identity_of_a_user() -> None:
    users = {member_identity(m) for m in ("user:alice@example.co.jp", "example.co.jp")}
    for member in ("domain:example.co.jp", "deleted:user:alice@example.co.jp?uid=1"):
        assert member_identity(member) not in users


def test_gcp_user_spells_a_workspace_user_as_grants_do() -> None:
    assert gcp_user(" Alice@Example.co.jp ") == "user:alice@example.co.jp"
