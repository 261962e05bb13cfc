"""The GCP provider's pure parts, table-driven with plain data: binding edits, the last-owner
guard, and how client-library errors map onto the project's retry meaning."""

from __future__ import annotations

import http.client
from typing import Any

import httplib2
import pytest
from google.api_core import exceptions as core_exceptions
from googleapiclient.errors import HttpError

from reconciler.errors import (
    ConflictError,
    PermanentProviderError,
    ProviderError,
    TemporaryProviderError,
)
from reconciler.providers.gcp_iam import translate_error
from reconciler.providers.gcp_payloads import (
    edit_bindings,
    refuse_last_owner,
    resource_from_asset_name,
)

COND = {"title": "t", "expression": "true"}
OWNER = {"role": "roles/owner", "members": ["user:cto@example.co.jp"]}
VIEWERS = {"role": "roles/viewer", "members": ["user:Taro.Yamada@example.co.jp"]}
COND_VIEWER = {"role": "roles/viewer", "members": ["user:jiro@example.co.jp"], "condition": COND}

EDIT_CASES: list[tuple[str, list[dict[str, Any]], list[tuple[str, str]], list[tuple[str, str]],
                       list[dict[str, Any]], bool]] = [
    ("add to an existing unconditional binding",
     [VIEWERS, COND_VIEWER], [("roles/viewer", "user:hanako@example.co.jp")], [],
     [{"role": "roles/viewer",
       "members": ["user:Taro.Yamada@example.co.jp", "user:hanako@example.co.jp"]},
      COND_VIEWER], True),
    ("add creates a binding when the role has only a conditional one",
     [COND_VIEWER], [("roles/viewer", "user:hanako@example.co.jp")], [],
     [COND_VIEWER, {"role": "roles/viewer", "members": ["user:hanako@example.co.jp"]}], True),
    ("add of a member present in another case is no change",
     [VIEWERS], [("roles/viewer", "user:taro.yamada@example.co.jp")], [], [VIEWERS], False),
    ("remove matches case-insensitively and drops the emptied binding",
     [OWNER, VIEWERS], [], [("roles/viewer", "user:taro.yamada@example.co.jp")], [OWNER], True),
    ("remove never touches a conditional binding",
     [COND_VIEWER], [], [("roles/viewer", "user:jiro@example.co.jp")], [COND_VIEWER], False),
    ("remove of an absent member is no change",
     [OWNER], [], [("roles/editor", "user:cto@example.co.jp")], [OWNER], False),
    ("adds and removes in one edit",
     [OWNER, VIEWERS], [("roles/editor", "group:eng@example.co.jp")],
     [("roles/viewer", "user:taro.yamada@example.co.jp")],
     [OWNER, {"role": "roles/editor", "members": ["group:eng@example.co.jp"]}], True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("bindings", "adds", "removes", "want", "want_changed"),
    [pytest.param(*case[1:], id=case[0]) for case in EDIT_CASES],
)
def test_edit_bindings(
    bindings: list[dict[str, Any]],
    adds: list[tuple[str, str]],
    removes: list[tuple[str, str]],
    want: list[dict[str, Any]],
    want_changed: bool,
) -> None:
    snapshot = [dict(b, members=list(b["members"])) for b in bindings]

    got, changed = edit_bindings(bindings, adds, removes)

    assert (got, changed) == (want, want_changed)
    assert bindings == snapshot  # the input is never mutated


OWNER_CASES = [
    ("last live owner removed", [OWNER], [], True),
    ("another owner remains", [{"role": "roles/owner", "members": ["user:a@example.com",
                                                                 "user:b@example.com"]}],
     [{"role": "roles/owner", "members": ["user:b@example.com"]}], False),
    ("only a deleted owner would remain",
     [{"role": "roles/owner",
       "members": ["user:a@example.com", "deleted:user:b@example.com?uid=1"]}],
     [{"role": "roles/owner", "members": ["deleted:user:b@example.com?uid=1"]}], True),
    ("only a conditional owner would remain",
     [OWNER, {"role": "roles/owner", "members": ["user:b@example.com"], "condition": COND}],
     [{"role": "roles/owner", "members": ["user:b@example.com"], "condition": COND}], True),
    ("a resource that had no owner is not blocked", [VIEWERS], [], False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("before", "after", "refused"), [pytest.param(*c[1:], id=c[0]) for c in OWNER_CASES]
)
def test_refuse_last_owner(
    before: list[dict[str, Any]], after: list[dict[str, Any]], refused: bool
) -> None:
    if refused:
        with pytest.raises(PermanentProviderError, match="last roles/owner"):
            refuse_last_owner("projects/example-prod", before, after)
    else:
        refuse_last_owner("projects/example-prod", before, after)


def http_error(status: int, headers: dict[str, str] | None = None) -> HttpError:
    resp = httplib2.Response({"status": str(status), **(headers or {})})
    body = b'{"error": {"code": %d, "message": "from the server", "status": "X"}}' % status
    return HttpError(resp, body, uri="http://127.0.0.1/v3/projects/p:getIamPolicy")


ERROR_CASES: list[tuple[str, BaseException, type[ProviderError], float | None]] = [
    ("429 with Retry-After", http_error(429, {"retry-after": "7"}), TemporaryProviderError, 7.0),
    ("503", http_error(503), TemporaryProviderError, None),
    ("409 etag mismatch", http_error(409), ConflictError, None),
    ("403", http_error(403), PermanentProviderError, None),
    ("400", http_error(400), PermanentProviderError, None),
    ("gRPC UNAVAILABLE", core_exceptions.ServiceUnavailable("down"), TemporaryProviderError, None),
    ("gRPC RESOURCE_EXHAUSTED", core_exceptions.ResourceExhausted("quota"),
     TemporaryProviderError, None),
    ("gRPC DEADLINE_EXCEEDED", core_exceptions.DeadlineExceeded("slow"),
     TemporaryProviderError, None),
    ("gRPC NOT_FOUND", core_exceptions.NotFound("gone"), PermanentProviderError, None),
    ("gRPC ABORTED", core_exceptions.Aborted("raced"), ConflictError, None),
    ("connection reset", ConnectionResetError("reset"), TemporaryProviderError, None),
    ("answer cut off mid-body", http.client.IncompleteRead(b"{"), TemporaryProviderError, None),
    ("garbled status line", http.client.BadStatusLine("x"), TemporaryProviderError, None),
    ("a bug", ValueError("oops"), PermanentProviderError, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "kind", "retry_after"), [pytest.param(*c[1:], id=c[0]) for c in ERROR_CASES]
)
def test_translate_error(
    exc: BaseException, kind: type[ProviderError], retry_after: float | None
) -> None:
    got = translate_error(exc, "getIamPolicy projects/p")

    assert type(got) is kind
    assert got.retry_after == retry_after
    assert str(got).startswith("getIamPolicy projects/p: ")


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("//cloudresourcemanager.googleapis.com/projects/example-prod", "projects/example-prod"),
        ("//cloudresourcemanager.googleapis.com/folders/1", "folders/1"),
        ("//storage.googleapis.com/example-bucket", "//storage.googleapis.com/example-bucket"),
    ],
)
def test_resource_from_asset_name(name: str, want: str) -> None:
    assert resource_from_asset_name(name) == want
