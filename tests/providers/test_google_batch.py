"""The provider's batch (`providers.google_batch.FastBatchHttpRequest`) against the library's
own `BatchHttpRequest`: the same request bytes, the same per-part answers and HttpErrors on
canned multipart/mixed answers (CRLF and bare LF, a failing part with Google's JSON error
body, preamble and epilogue), and a clear BatchError, never a silent gap, for an answer that
is truncated, not multipart or missing a part. The network is replaced by a canned answer;
the client library itself runs unchanged. Reads through the sandbox are covered in
tests/providers/test_google_workspace.py."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from google.oauth2.credentials import Credentials as BearerCredentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest

from reconciler.errors import TemporaryProviderError
from reconciler.providers.google_batch import FastBatchHttpRequest, split_multipart
from reconciler.providers.google_workspace import translate_http_error

ROOT = "http://127.0.0.1:9/"
DOMAIN = "example.co.jp"
ERROR_503 = {
    "error": {
        "code": 503,
        "message": "Backend Error",
        "status": "UNAVAILABLE",
        "errors": [{"message": "Backend Error", "domain": "global", "reason": "backendError"}],
    }
}
ERROR_404 = {
    "error": {
        "code": 404,
        "message": "Resource Not Found: userKey",
        "status": "NOT_FOUND",
        "errors": [{"message": "Not Found", "domain": "global", "reason": "notFound"}],
    }
}

Answer = tuple[int, dict[str, Any]]  # (status, JSON body) of one part


class CannedHttp:
    """Stands in for the network: records the batch request and answers each of its parts,
    in order, with the canned (status, body) given; `shape` writes the multipart answer."""

    def __init__(self, answers: list[Answer], shape: Callable[[str, list[bytes]], bytes]) -> None:
        self.answers = answers
        self.shape = shape
        self.sent: dict[str, Any] = {}

    def request(self, uri: str, method: str, body: str, headers: dict[str, str]) -> Any:
        self.sent = {"uri": uri, "method": method, "body": body, "headers": headers}
        ids = re.findall(r"^Content-ID: <(.*)>$", body, flags=re.MULTILINE)
        parts = []
        for cid, (status, payload) in zip(ids, self.answers, strict=False):
            content = json.dumps(payload).encode()
            http_text = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                "Content-Type: application/json; charset=UTF-8\r\n"
                f"Content-Length: {len(content)}\r\n\r\n"
            ).encode() + content
            mime = f"Content-Type: application/http\r\nContent-ID: <response-{cid}>\r\n\r\n"
            parts.append(mime.encode() + http_text)
        boundary = "batch_canned"
        resp = httplib2.Response(
            {"status": "200", "content-type": f"multipart/mixed; boundary={boundary}"}
        )
        return resp, self.shape(boundary, parts)


def crlf(boundary: str, parts: list[bytes]) -> bytes:
    """As Google (and the sandbox) write it: CRLF everywhere."""
    dash = f"--{boundary}".encode()
    return b"".join(dash + b"\r\n" + p + b"\r\n" for p in parts) + dash + b"--\r\n"


def with_preamble_and_epilogue(boundary: str, parts: list[bytes]) -> bytes:
    return b"This is a preamble.\r\n" + crlf(boundary, parts) + b"an epilogue\r\n"


def bare_lf(boundary: str, parts: list[bytes]) -> bytes:
    """Every line break a bare LF, the inner HTTP responses' too."""
    return crlf(boundary, parts).replace(b"\r\n", b"\n")


def service(token: str = "ya29.invented-token") -> Any:
    doc = json.loads(get_static_doc("admin", "directory_v1"))
    doc["rootUrl"] = ROOT
    http = google_auth_httplib2.AuthorizedHttp(BearerCredentials(token), http=httplib2.Http())
    return build_from_document(doc, http=http)


def run(
    kind: type[BatchHttpRequest], answers: list[Answer], shape: Callable[..., bytes]
) -> tuple[CannedHttp, dict[str, tuple[Any, Any]]]:
    """Three batched reads through `kind`; each request id's (response, exception)."""
    svc = service()
    batch = kind(batch_uri=ROOT + "batch")
    got: dict[str, tuple[Any, Any]] = {}

    def callback(request_id: str, response: Any, exception: Any) -> None:
        got[request_id] = (response, exception)

    batch.add(
        svc.members().list(groupKey=f"eng@{DOMAIN}", maxResults=200, fields="members(email)"),
        callback=callback,
        request_id="0",
    )
    batch.add(svc.tokens().list(userKey=f"taro@{DOMAIN}"), callback=callback, request_id="1")
    batch.add(svc.asps().list(userKey=f"jiro@{DOMAIN}"), callback=callback, request_id="2")
    http = CannedHttp(answers, shape)
    batch.execute(http=http)
    return http, got


ANSWERS: list[Answer] = [
    (200, {"members": [{"email": f"taro@{DOMAIN}", "role": "MEMBER"}], "nextPageToken": "p2"}),
    (503, ERROR_503),
    (404, ERROR_404),
]


def outcome(got: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """What the provider sees of each part: the answer, or the error's status and body."""
    return {
        rid: response if exception is None else (exception.resp.status, exception.content)
        for rid, (response, exception) in sorted(got.items())
    }


def test_the_request_is_written_byte_for_byte_as_the_library_writes_it() -> None:
    library, _ = run(BatchHttpRequest, ANSWERS, crlf)
    fast, _ = run(FastBatchHttpRequest, ANSWERS, crlf)

    def neutral(sent: dict[str, Any]) -> str:
        boundary = re.search(r'boundary="([^"]+)"', sent["headers"]["content-type"])
        assert boundary is not None
        body: str = sent["body"].replace(boundary.group(1), "B")
        return re.sub(r"Content-ID: <[0-9a-f-]+ \+ ", "Content-ID: <ID + ", body)

    assert neutral(fast.sent) == neutral(library.sent)
    assert (fast.sent["uri"], fast.sent["method"]) == (library.sent["uri"], "POST")
    # The credentials ride on every part, as with the library.
    assert fast.sent["body"].count("authorization: Bearer ya29.invented-token\n") == 3


@pytest.mark.parametrize("shape", [crlf, with_preamble_and_epilogue], ids=lambda f: f.__name__)
def test_each_part_gets_the_same_answer_or_http_error_as_with_the_library(
    shape: Callable[..., bytes],
) -> None:
    _, library = run(BatchHttpRequest, ANSWERS, shape)
    _, fast = run(FastBatchHttpRequest, ANSWERS, shape)
    assert outcome(fast) == outcome(library)
    assert outcome(fast)["0"] == ANSWERS[0][1]
    assert all(isinstance(fast[rid][1], HttpError) for rid in ("1", "2"))


def test_a_failing_part_keeps_its_status_and_googles_reason_for_the_retry_rule() -> None:
    _, got = run(FastBatchHttpRequest, ANSWERS, bare_lf)  # the library cannot read bare LF
    assert outcome(got)["0"] == ANSWERS[0][1]
    unavailable = translate_http_error(got["1"][1], "tokens.list")
    assert isinstance(unavailable, TemporaryProviderError)
    assert str(unavailable) == "tokens.list: HTTP 503 backendError"
    missing = translate_http_error(got["2"][1], "asps.list")
    assert (missing.status, str(missing)) == (404, "asps.list: HTTP 404 notFound")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (lambda b, parts: crlf(b, parts)[:-30], "ends before its close delimiter"),
        (lambda b, parts: b"no multipart here", "no boundary delimiter"),
        (lambda b, parts: crlf(b, parts[:2]), "lacks 1 of 3 parts"),
        (
            lambda b, parts: crlf(b, [re.sub(rb"Content-ID: [^\r]*\r\n", b"", parts[0])]),
            "without a Content-ID",
        ),
        (
            lambda b, parts: crlf(b, [parts[0].replace(b"HTTP/1.1 200 OK", b"garbage")]),
            "without an HTTP status line",
        ),
    ],
    ids=["truncated", "not-multipart", "part-missing", "no-content-id", "no-status-line"],
)
def test_an_answer_that_is_not_a_whole_multipart_of_our_parts_is_a_batch_error(
    shape: Callable[..., bytes], message: str
) -> None:
    with pytest.raises(BatchError, match=message):
        run(FastBatchHttpRequest, ANSWERS, shape)


def test_a_boundary_inside_a_line_is_content_not_a_delimiter() -> None:
    body = b"--b\r\nA: 1\r\n\r\nx --b y\r\n--bz\r\n--b \r\nA: 2\r\n\r\nz\r\n--b--"
    assert split_multipart(body, "b") == [b"A: 1\r\n\r\nx --b y\r\n--bz", b"A: 2\r\n\r\nz"]
