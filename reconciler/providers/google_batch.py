"""A Directory API batch that writes and reads its multipart/mixed body with plain string
and bytes operations: the batch request `providers.google_workspace` sends for every
member page, tokens.list and asps.list of a read.

google-api-python-client's `BatchHttpRequest` builds each part with the `email` package
(an `email.generator.Generator` folding every header of every part) and parses the answer
with `email.feedparser`. At 10,000 people a read sends about 80,000 parts, and that pure
Python MIME work was most of the Google read's CPU: profiled at 1,000 people, writing the
parts was ~60 % of the read and parsing the answer ~20 %. The wire format is simple and
fixed (directory/v1/guides/batch): parts of `application/http` with a Content-ID, each
holding one HTTP request or response.

`FastBatchHttpRequest` subclasses the library's batch and replaces only its private
`_serialize_request` and `_execute` (google-api-python-client 2.x). Everything else stays
the library's: building the requests from the discovery document, the credentials on each
part, the 401 re-send, the per-part `HttpError` and `postproc` in `execute`, the callbacks.
The request bytes are the same the library writes (tests/providers/test_google_batch.py
compares them); a request with a body, or a header the library would have to MIME-encode,
is left to the library's own code.
"""

from __future__ import annotations

import email.message
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httplib2
from googleapiclient import _auth
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest


@dataclass(frozen=True)
class ResponsePart:
    """One part of a batch answer: which request it answers and its HTTP response."""

    content_id: str
    status: int
    reason: str
    version: int  # 11 for HTTP/1.1, as httplib2.Response.version
    headers: Mapping[str, str]  # lower-cased names; a repeated header keeps its last value
    content: bytes


def boundary_of(content_type: str) -> str | None:
    """The boundary of a multipart/* Content-Type, None if it is not multipart or has none
    (the standard library parses the one header: quoting and parameters are its job)."""
    header = email.message.Message()
    header["content-type"] = content_type
    if header.get_content_maintype() != "multipart":
        return None
    boundary = header.get_boundary()
    return boundary or None


def _line_end(body: bytes, at: int) -> int:
    """Index just past the line break that ends the line holding `at` (len(body) if none)."""
    found = body.find(b"\n", at)
    return len(body) if found < 0 else found + 1


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The body parts of a multipart entity (RFC 2046 section 5.1.1), CRLF or bare LF.

    A delimiter is "--boundary" at the start of a line, followed by optional spaces and the
    line break; the line break before it belongs to the delimiter, not to the part. The
    preamble and epilogue are dropped. Raises ValueError when the body has no delimiter or
    no close delimiter: a truncated answer must never pass for a short one."""
    dash = b"--" + boundary.encode("ascii")
    parts: list[bytes] = []
    if body.startswith(dash):
        at = 0
    else:
        found = body.find(b"\n" + dash)
        if found < 0:
            raise ValueError("no boundary delimiter in the batch answer")
        at = found + 1  # past the preamble's last line break
    while True:
        after = at + len(dash)
        if body.startswith(b"--", after):
            return parts  # the close delimiter: what follows is epilogue
        start = _line_end(body, after)
        search = start
        while True:
            found = body.find(b"\n" + dash, search)
            if found < 0:
                raise ValueError("batch answer ends before its close delimiter")
            tail = found + 1 + len(dash)
            rest = body[tail : _line_end(body, tail)]
            # A real delimiter line holds nothing else (RFC 2046: transport padding only).
            if rest.startswith(b"--") or not rest.strip(b" \t\r\n"):
                break
            search = found + 1
        end = found - 1 if found > 0 and body[found - 1 : found] == b"\r" else found
        parts.append(body[start:end])
        at = found + 1


def _headers_and_rest(block: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Split "Name: value" lines (folded lines joined) from what follows the blank line."""
    for blank in (b"\r\n\r\n", b"\n\n"):
        cut = block.find(blank)
        if cut >= 0:
            head, rest = block[:cut], block[cut + len(blank) :]
            break
    else:
        head, rest = block, b""
    fields: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name.strip(), value.strip()))
    return fields, rest


def parse_response_part(part: bytes) -> ResponsePart:
    """One `application/http` part: its MIME headers (Content-ID), then the HTTP response
    (status line, headers, body). Raises ValueError when it is not shaped so."""
    mime, http = _headers_and_rest(part)
    content_id = next((v for k, v in mime if k.lower() == "content-id"), None)
    if not content_id:
        raise ValueError("batch answer part without a Content-ID")
    line_end = _line_end(http, 0)
    status_line = http[:line_end].decode("latin-1").strip()
    protocol, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not protocol.startswith("HTTP/") or not code.isdigit():
        raise ValueError("batch answer part without an HTTP status line")
    fields, content = _headers_and_rest(http[line_end:])
    try:
        version = int(protocol.split("/", 1)[1].replace(".", ""))
    except ValueError:
        version = 11
    return ResponsePart(
        content_id=content_id,
        status=int(code),
        reason=reason,
        version=version,
        headers={k.lower(): v for k, v in fields},
        content=content,
    )


def _plain(value: str) -> bool:
    """A header value the library's MIME generator writes unchanged: ASCII, one line."""
    return value.isascii() and "\n" not in value and "\r" not in value


class FastBatchHttpRequest(BatchHttpRequest):  # type: ignore[misc]
    """The library's batch with the multipart body written and read without `email`."""

    def _serialize_request(self, request: Any) -> str:
        """The request in `application/http` form, byte for byte as the library writes it
        for a request without a body (every batched read is a GET)."""
        if request.body is not None:
            return str(super()._serialize_request(request))
        parsed = urllib.parse.urlparse(request.uri)
        request_line = urllib.parse.urlunparse(
            ("", "", parsed.path, parsed.params, parsed.query, "")
        )
        major, minor = request.headers.get("content-type", "application/json").split("/")
        headers = request.headers.copy()
        if request.http is not None:
            credentials = _auth.get_credentials_from_http(request.http)
            if credentials is not None:
                _auth.apply_credentials(credentials, headers)
        headers.pop("content-type", None)
        if not all(_plain(str(k)) and _plain(str(v)) for k, v in headers.items()):
            return str(super()._serialize_request(request))
        lines = [
            f"{request.method} {request_line} HTTP/1.1",
            f"Content-Type: {major}/{minor}",
            "MIME-Version: 1.0",
            *(f"{k}: {v}" for k, v in headers.items()),
            f"Host: {parsed.netloc}",
        ]
        return "\n".join(lines) + "\n\n"

    def _execute(self, http: Any, order: list[str], requests: Mapping[str, Any]) -> None:
        """Write the batch, send it, and file each part's answer under its request id, as
        the library's `_execute` does; raises HttpError for the batch as a whole and
        BatchError for an answer that is not a complete multipart/mixed of our parts."""
        parts = [
            (self._id_to_header(request_id), self._serialize_request(requests[request_id]))
            for request_id in order
        ]
        boundary = f"batch_{uuid.uuid4().hex}"
        while any(boundary in text for _, text in parts):  # never, but it must not be
            boundary = f"batch_{uuid.uuid4().hex}"
        body = (
            "".join(
                f"--{boundary}\nContent-Type: application/http\nMIME-Version: 1.0\n"
                f"Content-Transfer-Encoding: binary\nContent-ID: {cid}\n\n{text}\n"
                for cid, text in parts
            )
            + f"--{boundary}--\n"
        )
        headers = {"content-type": f'multipart/mixed; boundary="{boundary}"'}
        resp, content = http.request(self._batch_uri, method="POST", body=body, headers=headers)
        if resp.status >= 300:
            raise HttpError(resp, content, uri=self._batch_uri)
        answer_boundary = boundary_of(resp.get("content-type", ""))
        if answer_boundary is None:
            raise BatchError("Response not in multipart/mixed format.", resp=resp, content=content)
        try:
            answers = [parse_response_part(p) for p in split_multipart(content, answer_boundary)]
        except ValueError as exc:
            raise BatchError(str(exc), resp=resp, content=content) from exc
        for answer in answers:
            self._responses[self._header_to_id(answer.content_id)] = _response(answer)
        missing = sum(1 for request_id in order if request_id not in self._responses)
        if missing:
            # The library would fail with a KeyError; a part never answered is not "empty".
            raise BatchError(
                f"batch answer lacks {missing} of {len(order)} parts", resp=resp, content=content
            )


def _response(part: ResponsePart) -> tuple[httplib2.Response, bytes]:
    """The (httplib2.Response, content) pair the library's `execute` expects per part."""
    resp = httplib2.Response({**part.headers, "status": str(part.status)})
    resp.reason = part.reason
    resp.version = part.version
    return resp, part.content
