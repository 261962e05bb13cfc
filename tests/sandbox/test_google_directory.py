"""The Directory API emulation answers google-api-python-client (the real client, over HTTP)
with the API's paths, page caps, page tokens, error bodies, batch format and faults."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from reconciler.sandbox.server import SandboxServer

DOMAIN = "example.co.jp"


def google_world(
    users: int = 3,
    groups: int = 2,
    members_per_group: int = 2,
    *,
    suspended: tuple[int, ...] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A small invented Workspace: user0000 is the super admin; group N holds the first
    `members_per_group` users (user0000 as OWNER) and one external address."""
    user_list = [
        {
            "id": f"1{i:020d}",
            "primaryEmail": f"user{i:04d}@{DOMAIN}",
            "name": {"givenName": "Taro", "familyName": f"Test{i}", "fullName": f"Taro Test{i}"},
            "suspended": i in suspended,
            "isAdmin": i == 0,
            "isEnrolledIn2Sv": i % 2 == 0,
            "isEnforcedIn2Sv": i % 2 == 0,
            "lastLoginTime": "2026-11-20T09:00:00.000Z" if i else "1970-01-01T00:00:00.000Z",
            "creationTime": "2025-04-01T00:00:00.000Z",
            "orgUnitPath": "/",
            "aliases": [f"alias{i}@{DOMAIN}"] if i == 1 else [],
        }
        for i in range(users)
    ]
    group_list = [
        {"id": f"0g{i:05d}", "email": f"team{i}@{DOMAIN}", "name": f"Team {i}", "description": ""}
        for i in range(groups)
    ]
    members = {
        g["email"]: [
            {
                "id": u["id"],
                "email": u["primaryEmail"],
                "role": "OWNER" if n == 0 else "MEMBER",
                "type": "USER",
                "status": "ACTIVE",
            }
            for n, u in enumerate(user_list[:members_per_group])
        ]
        + [
            {
                "id": "9ext",
                "email": "partner@example.com",
                "role": "MEMBER",
                "type": "USER",
                "status": "ACTIVE",
            }
        ]
        for g in group_list
    }
    section: dict[str, Any] = {
        "customer": "C01example",
        "domain": DOMAIN,
        "users": user_list,
        "groups": group_list,
        "members": members,
        "tokens": {
            f"user0001@{DOMAIN}": [
                {
                    "clientId": "client-1.apps.example.com",
                    "displayText": "Calendar Sync",
                    "scopes": ["https://www.googleapis.com/auth/calendar"],
                    "anonymous": False,
                    "nativeApp": False,
                }
            ]
        },
        "asps": {f"user0001@{DOMAIN}": [{"codeId": 42, "name": "old mail client"}]},
    }
    section.update(extra or {})
    return {"google": section}


def directory(url: str) -> Any:
    doc = json.loads(get_static_doc("admin", "directory_v1"))
    doc["rootUrl"] = url + "/"
    return build_from_document(doc, credentials=AnonymousCredentials())


def reasons(exc: HttpError) -> list[str]:
    return [e["reason"] for e in json.loads(exc.content)["error"]["errors"]]


def test_users_list_pages_at_500_with_opaque_tokens_and_partial_fields(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world(users=1203))
    svc = directory(sandbox.url)
    req = svc.users().list(
        customer="my_customer", maxResults=500, fields="nextPageToken,users(id,primaryEmail)"
    )
    pages = []
    while req is not None:
        resp = req.execute()
        pages.append(resp)
        req = svc.users().list_next(req, resp)
    assert [len(p["users"]) for p in pages] == [500, 500, 203]
    assert set(pages[0]["users"][0]) == {"id", "primaryEmail"}
    token = pages[0]["nextPageToken"]
    assert "500" not in token  # opaque, not an offset a client could compute
    emails = [u["primaryEmail"] for p in pages for u in p["users"]]
    assert emails == sorted(emails) and len(set(emails)) == 1203


def test_users_list_rejects_more_than_500_and_a_forged_page_token(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    svc = directory(sandbox.url)
    with pytest.raises(HttpError) as too_many:
        svc.users().list(customer="my_customer", maxResults=501).execute()
    assert too_many.value.status_code == 400 and reasons(too_many.value) == ["invalid"]
    with pytest.raises(HttpError) as forged:
        svc.users().list(customer="my_customer", pageToken="b2Zmc2V0PTM").execute()
    assert forged.value.status_code == 400


def test_users_query_filters_suspended_and_email_prefix(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(users=5, suspended=(2, 3)))
    svc = directory(sandbox.url)
    got = svc.users().list(customer="my_customer", query="isSuspended=true").execute()
    assert [u["primaryEmail"] for u in got["users"]] == [
        f"user0002@{DOMAIN}",
        f"user0003@{DOMAIN}",
    ]
    got = svc.users().list(domain=DOMAIN, query="email:user0004").execute()
    assert [u["primaryEmail"] for u in got["users"]] == [f"user0004@{DOMAIN}"]


def test_users_get_by_alias_and_missing_user_is_google_not_found(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    svc = directory(sandbox.url)
    assert svc.users().get(userKey=f"alias1@{DOMAIN}").execute()["primaryEmail"] == (
        f"user0001@{DOMAIN}"
    )
    with pytest.raises(HttpError) as missing:
        svc.users().get(userKey=f"nobody@{DOMAIN}").execute()
    body = json.loads(missing.value.content)["error"]
    assert body["code"] == 404 and body["status"] == "NOT_FOUND"
    assert body["errors"][0]["reason"] == "notFound"


def test_groups_of_a_user_and_group_page_cap_of_200(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(users=3, groups=3, members_per_group=1))
    svc = directory(sandbox.url)
    mine = svc.groups().list(userKey=f"user0000@{DOMAIN}").execute()
    assert [g["email"] for g in mine["groups"]] == [f"team{i}@{DOMAIN}" for i in range(3)]
    none = svc.groups().list(userKey=f"user0002@{DOMAIN}").execute()
    assert "groups" not in none
    with pytest.raises(HttpError) as too_many:
        svc.groups().list(customer="my_customer", maxResults=201).execute()
    assert too_many.value.status_code == 400


def test_member_writes_answer_duplicate_and_not_found_like_the_api(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    svc = directory(sandbox.url)
    group = f"team0@{DOMAIN}"
    added = (
        svc.members()
        .insert(groupKey=group, body={"email": f"user0002@{DOMAIN}", "role": "MANAGER"})
        .execute()
    )
    assert added["role"] == "MANAGER" and added["type"] == "USER"
    with pytest.raises(HttpError) as dup:
        svc.members().insert(groupKey=group, body={"email": f"USER0002@{DOMAIN}"}).execute()
    assert dup.value.status_code == 409 and reasons(dup.value) == ["duplicate"]
    svc.members().patch(
        groupKey=group, memberKey=f"user0002@{DOMAIN}", body={"role": "OWNER"}
    ).execute()
    assert svc.members().hasMember(groupKey=group, memberKey=f"user0002@{DOMAIN}").execute() == {
        "isMember": True
    }
    svc.members().delete(groupKey=group, memberKey=f"user0002@{DOMAIN}").execute()
    with pytest.raises(HttpError) as gone:
        svc.members().delete(groupKey=group, memberKey=f"user0002@{DOMAIN}").execute()
    assert gone.value.status_code == 404
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()
    assert f"user0002@{DOMAIN}" not in [m["email"] for m in state["google"]["members"][group]]


def test_members_list_filters_roles_and_pages_at_200(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(users=450, groups=1, members_per_group=450))
    svc = directory(sandbox.url)
    owners = svc.members().list(groupKey=f"team0@{DOMAIN}", roles="OWNER").execute()
    assert [m["email"] for m in owners["members"]] == [f"user0000@{DOMAIN}"]
    req = svc.members().list(groupKey=f"team0@{DOMAIN}", maxResults=200)
    sizes = []
    while req is not None:
        resp = req.execute()
        sizes.append(len(resp["members"]))
        req = svc.members().list_next(req, resp)
    assert sizes == [200, 200, 51]


def test_batch_dispatches_each_part_through_faults_and_the_log(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(users=3))
    sandbox.sandbox.add_fault(
        {
            "path": "/users/user0001",
            "nth": 1,
            "status": 503,
            "body": {"error": {"code": 503, "message": "Backend Error", "status": "UNAVAILABLE",
                               "errors": [{"message": "Backend Error", "domain": "global",
                                           "reason": "backendError"}]}},
        }
    )  # fmt: skip
    svc = directory(sandbox.url)
    answers: dict[str, Any] = {}

    def callback(request_id: str, response: Any, exception: Any) -> None:
        answers[request_id] = exception if exception is not None else response

    batch = svc.new_batch_http_request(callback=callback)
    for i in range(3):
        batch.add(svc.users().get(userKey=f"user{i:04d}@{DOMAIN}"), request_id=str(i))
    batch.add(svc.users().get(userKey=f"nobody@{DOMAIN}"), request_id="404")
    batch.execute()
    assert answers["0"]["primaryEmail"] == f"user0000@{DOMAIN}"
    assert isinstance(answers["1"], HttpError) and reasons(answers["1"]) == ["backendError"]
    assert answers["2"]["primaryEmail"] == f"user0002@{DOMAIN}"
    assert isinstance(answers["404"], HttpError) and answers["404"].status_code == 404
    log = sandbox.sandbox.telemetry.log
    outer = [r for r in log if r.endpoint == "google.batch"]
    inner = [r for r in log if r.endpoint == "google.users.get"]
    assert len(outer) == 1 and len(inner) == 4
    assert {r.batch_parent for r in inner} == {outer[0].seq}
    assert sorted(r.status for r in inner) == [200, 200, 404, 503]
    counters = sandbox.sandbox.telemetry.counters()
    assert counters["round_trips"]["google"] == 1


def test_batch_path_per_api_is_served_and_over_1000_parts_are_refused(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    boundary = "b0undary"

    def body(n: int) -> str:
        part = (
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <x+{{i}}>\r\n\r\n"
            f"GET /admin/directory/v1/users/user0000%40{DOMAIN}?alt=json HTTP/1.1\r\n\r\n"
        )
        return "".join(part.format(i=i) for i in range(n)) + f"--{boundary}--\r\n"

    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    ok = requests.post(
        f"{sandbox.url}/batch/admin/directory/v1", data=body(2), headers=headers, timeout=10
    )
    assert ok.status_code == 200 and ok.text.count("HTTP/1.1 200 OK") == 2
    assert "Content-ID: <response-x+1>" in ok.text
    too_many = requests.post(f"{sandbox.url}/batch", data=body(1001), headers=headers, timeout=10)
    assert too_many.status_code == 400
    assert too_many.json()["error"]["errors"][0]["reason"] == "invalid"


def test_injected_rate_limit_fault_reaches_the_client_as_google_error(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    r = requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={
            "path": "^/admin/directory/v1/users$",
            "nth": 1,
            "status": 403,
            "headers": {"Retry-After": "3"},
            "body": {"error": {"code": 403, "message": "Quota exceeded for quota metric",
                               "status": "PERMISSION_DENIED",
                               "errors": [{"message": "Quota exceeded", "domain": "usageLimits",
                                           "reason": "userRateLimitExceeded"}]}},
        },
        timeout=5,
    )  # fmt: skip
    assert r.status_code == 201
    svc = directory(sandbox.url)
    with pytest.raises(HttpError) as limited:
        svc.users().list(customer="my_customer").execute(num_retries=0)
    assert limited.value.status_code == 403
    assert reasons(limited.value) == ["userRateLimitExceeded"]
    assert limited.value.resp["retry-after"] == "3"
    assert len(svc.users().list(customer="my_customer").execute()["users"]) == 3


def test_expired_credentials_flag_answers_200_without_users(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world(extra={"expired_credentials": True}))
    got = directory(sandbox.url).users().list(customer="my_customer").execute()
    assert "users" not in got and got["kind"] == "admin#directory#users"


def test_tokens_and_asps_list_and_delete(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    svc = directory(sandbox.url)
    user = f"user0001@{DOMAIN}"
    assert [t["clientId"] for t in svc.tokens().list(userKey=user).execute()["items"]] == [
        "client-1.apps.example.com"
    ]
    svc.tokens().delete(userKey=user, clientId="client-1.apps.example.com").execute()
    assert svc.tokens().list(userKey=user).execute()["items"] == []
    assert svc.asps().list(userKey=user).execute()["items"][0]["codeId"] == 42
    svc.asps().delete(userKey=user, codeId=42).execute()
    with pytest.raises(HttpError) as gone:
        svc.asps().delete(userKey=user, codeId=42).execute()
    assert gone.value.status_code == 404


def test_user_insert_never_stores_the_password_and_sign_out_is_recorded(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.load_world(google_world())
    svc = directory(sandbox.url)
    created = (
        svc.users()
        .insert(
            body={
                "primaryEmail": f"hanako.sato@{DOMAIN}",
                "name": {"givenName": "Hanako", "familyName": "Sato"},
                "password": "an-invented-Passw0rd",
                "changePasswordAtNextLogin": True,
            }
        )
        .execute()
    )
    assert "password" not in created
    with pytest.raises(HttpError) as dup:
        svc.users().insert(
            body={
                "primaryEmail": f"hanako.sato@{DOMAIN}",
                "name": {"givenName": "H", "familyName": "S"},
                "password": "an-invented-Passw0rd",
            }
        ).execute()
    assert dup.value.status_code == 409
    svc.users().patch(userKey=f"hanako.sato@{DOMAIN}", body={"suspended": True}).execute()
    svc.users().signOut(userKey=f"hanako.sato@{DOMAIN}").execute()
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()["google"]
    stored = next(u for u in state["users"] if u["primaryEmail"] == f"hanako.sato@{DOMAIN}")
    assert "password" not in json.dumps(stored)
    assert stored["suspended"] is True and stored["suspensionReason"] == "ADMIN"
    assert [s["user"] for s in state["sign_outs"]] == [f"hanako.sato@{DOMAIN}"]


def test_discovery_describes_the_google_endpoint_and_workspace(sandbox: SandboxServer) -> None:
    sandbox.sandbox.load_world(google_world())
    info = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()
    assert info["google"] == sandbox.url
    assert info["workspace_customer"] == "C01example"
    assert info["workspace_domain"] == DOMAIN


def test_token_endpoint_decodes_the_dwd_assertion_and_records_subject(
    sandbox: SandboxServer,
) -> None:
    from reconciler.providers.google_auth import sandbox_delegated_credentials

    sandbox.sandbox.load_world(google_world())
    creds = sandbox_delegated_credentials(sandbox.url, f"user0000@{DOMAIN}", ["scope-a"])
    import google.auth.transport.requests

    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token and creds.token.startswith("sandbox-")
    grants = sandbox.sandbox.world["google"]["oauth_grants"]
    assert grants[0]["sub"] == f"user0000@{DOMAIN}" and grants[0]["scopes"] == ["scope-a"]
    bad = requests.post(
        f"{sandbox.url}/token", data={"grant_type": "password", "assertion": "x"}, timeout=5
    )
    assert bad.status_code == 400 and bad.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_issues_the_worlds_access_token_when_it_names_one(
    sandbox: SandboxServer,
) -> None:
    """Tests that must know the secret a client holds (to make a fault echo it) name it."""
    from reconciler.providers.google_auth import sandbox_delegated_credentials

    world = google_world()
    world["google"]["access_token"] = "sandbox-fixed-access-token-0001"
    sandbox.sandbox.load_world(world)
    creds = sandbox_delegated_credentials(sandbox.url, f"user0000@{DOMAIN}", ["scope-a"])
    import google.auth.transport.requests

    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token == "sandbox-fixed-access-token-0001"
