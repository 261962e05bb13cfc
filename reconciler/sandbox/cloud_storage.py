"""Sandbox emulation of the Cloud Storage JSON API v1 subset the GCS state store uses; registered
on the sandbox by `server.Sandbox`, driven by the real google-cloud-storage client.

World section "storage" (docs/sandbox-storage.md, schemas/storage.schema.json): buckets with
their versioning flag, retention period and objects. What is emulated, as the storage v1
discovery document and the Cloud Storage docs describe it:

- objects insert (uploadType=media and multipart: the client uploads anything up to 8 MiB in
  one multipart request, so resumable uploads are not needed), get (metadata, or the content
  with alt=media, also under /download/), list (prefix, startOffset, versions, maxResults and
  pageToken paging), delete;
- generation (a bucket-wide counter, so a re-created object never reuses a generation) and
  metageneration; preconditions ifGenerationMatch (0 = "must not exist"),
  ifGenerationNotMatch, ifMetagenerationMatch -> 412 conditionNotMet, or 304 for a get;
- versioning: an overwritten or deleted live object is kept as a noncurrent version;
- a bucket retention policy: deleting or replacing an object younger than retentionPeriod
  seconds -> 403 retentionPolicyNotMet; buckets.get reports it with isLocked (Bucket Lock)
  and effectiveTime. Time is the wall clock: seed an object's `time_created` in the past to
  make it old enough;
- buckets.testIamPermissions: the asked permissions the caller holds on the bucket (the
  world's `caller_permissions`; absent: all of them), and buckets.get refused (403) without
  storage.buckets.get. Object calls are not gated by it: `reconciler doctor` asks, the
  store's own calls then succeed or fail on their own terms.

Objects live in this module's index (content is bytes); the world only seeds them.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from reconciler.sandbox.http import Request, Response

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox


SERVES = "Cloud Storage JSON API v1 (/storage/v1/, /upload/storage/v1/)"
PREFIX = "/storage/v1"
LIST_MAX = 1000  # objects.list maxResults: "at most 1,000 items" (discovery doc)


def gcs_error(code: int, message: str, reason: str, *, location: str | None = None) -> Response:
    """The Cloud Storage JSON API error body (storage/docs/json_api/v1/status-codes):
    {"error": {"code", "message", "errors": [{"domain", "reason", "message", ...}]}}."""
    item: dict[str, str] = {"domain": "global", "reason": reason, "message": message}
    if location is not None:
        item["locationType"] = "header"
        item["location"] = location
    return Response.json({"error": {"code": code, "message": message, "errors": [item]}}, code)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), which the client checks downloads against (x-goog-hash)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


@dataclass
class StoredObject:
    name: str
    data: bytes
    generation: int
    content_type: str
    created: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    metageneration: int = 1
    deleted: datetime | None = None  # set when the version became noncurrent

    def md5(self) -> str:
        return base64.b64encode(hashlib.md5(self.data).digest()).decode()  # noqa: S324

    def crc32c(self) -> str:
        return base64.b64encode(_crc32c(self.data).to_bytes(4, "big")).decode()


@dataclass
class StoredBucket:
    name: str
    versioning: bool = False
    retention_period: int | None = None  # seconds
    retention_locked: bool = False  # Bucket Lock: the policy can no longer be removed
    caller_permissions: frozenset[str] | None = None  # None: the caller holds every one
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    generations: int = 0
    live: dict[str, StoredObject] = field(default_factory=dict)
    noncurrent: list[StoredObject] = field(default_factory=list)

    def next_generation(self) -> int:
        # Real generations are microsecond timestamps; a counter is as unique and monotonic.
        self.generations += 1
        return 1_700_000_000_000_000 + self.generations

    def retained_until(self, obj: StoredObject) -> datetime | None:
        if not self.retention_period:
            return None
        return obj.created + timedelta(seconds=self.retention_period)


class StorageIndex:
    """Buckets by name; rebuilt from the world's "storage" section on every world load."""

    def __init__(self, app: Sandbox) -> None:
        self.app = app
        self.buckets: dict[str, StoredBucket] = {}

    def rebuild(self) -> None:
        self.buckets = {}
        for spec in (self.app.world.get("storage") or {}).get("buckets", []):
            bucket = StoredBucket(
                name=spec["name"],
                versioning=bool(spec.get("versioning", False)),
                retention_period=spec.get("retention_period"),
                retention_locked=bool(spec.get("retention_locked", False)),
                caller_permissions=(
                    frozenset(spec["caller_permissions"])
                    if spec.get("caller_permissions") is not None
                    else None
                ),
            )
            for item in spec.get("objects", []):
                created = (
                    datetime.fromisoformat(item["time_created"])
                    if item.get("time_created")
                    else datetime.now(UTC)
                )
                bucket.live[item["name"]] = StoredObject(
                    name=item["name"],
                    data=item.get("content", "").encode(),
                    generation=bucket.next_generation(),
                    content_type=item.get("content_type", "application/octet-stream"),
                    created=created,
                )
            self.buckets[bucket.name] = bucket


def render_object(base_url: str, bucket: StoredBucket, obj: StoredObject) -> dict[str, Any]:
    """The Object resource as objects.get returns it (projection=noAcl)."""
    quoted = quote(obj.name, safe="")
    out: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{bucket.name}/{obj.name}/{obj.generation}",
        "selfLink": f"{base_url}{PREFIX}/b/{bucket.name}/o/{quoted}",
        "mediaLink": (
            f"{base_url}/download{PREFIX}/b/{bucket.name}/o/{quoted}"
            f"?generation={obj.generation}&alt=media"
        ),
        "name": obj.name,
        "bucket": bucket.name,
        "generation": str(obj.generation),
        "metageneration": str(obj.metageneration),
        "contentType": obj.content_type,
        "storageClass": "STANDARD",
        "size": str(len(obj.data)),
        "md5Hash": obj.md5(),
        "crc32c": obj.crc32c(),
        "etag": base64.b64encode(str(obj.generation).encode()).decode(),
        "timeCreated": _rfc3339(obj.created),
        "updated": _rfc3339(obj.created),
        "timeStorageClassUpdated": _rfc3339(obj.created),
        "timeFinalized": _rfc3339(obj.created),
    }
    if obj.metadata:
        out["metadata"] = dict(obj.metadata)
    if obj.deleted is not None:
        out["timeDeleted"] = _rfc3339(obj.deleted)
    retained = bucket.retained_until(obj)
    if retained is not None:
        out["retentionExpirationTime"] = _rfc3339(retained)
    return out


def render_bucket(bucket: StoredBucket) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "storage#bucket",
        "id": bucket.name,
        "name": bucket.name,
        "versioning": {"enabled": bucket.versioning},
        "storageClass": "STANDARD",
        "location": "ASIA-NORTHEAST1",
        "metageneration": "1",
    }
    if bucket.retention_period:
        out["retentionPolicy"] = {
            "retentionPeriod": str(bucket.retention_period),
            "effectiveTime": _rfc3339(bucket.created),
            "isLocked": bucket.retention_locked,
        }
    return out


def _preconditions(req: Request, obj: StoredObject | None) -> str | None:
    """The first precondition that fails, by parameter name, or None when all hold.

    ifGenerationMatch=0 means "only if there is no live object" (Cloud Storage docs,
    "Request preconditions")."""
    current = obj.generation if obj is not None else 0
    match = req.arg("ifGenerationMatch")
    if match is not None and int(match) != current:
        return "ifGenerationMatch"
    not_match = req.arg("ifGenerationNotMatch")
    if not_match is not None and int(not_match) == current:
        return "ifGenerationNotMatch"
    meta = req.arg("ifMetagenerationMatch")
    if meta is not None and (obj is None or int(meta) != obj.metageneration):
        return "ifMetagenerationMatch"
    return None


_PRECONDITION_HEADER = {
    "ifGenerationMatch": "If-Match",
    "ifGenerationNotMatch": "If-None-Match",
    "ifMetagenerationMatch": "If-Metageneration-Match",
}


def _precondition_failed(which: str) -> Response:
    return gcs_error(
        412,
        "At least one of the pre-conditions you specified did not hold.",
        "conditionNotMet",
        location=_PRECONDITION_HEADER[which],
    )


def _parse_multipart(req: Request) -> tuple[dict[str, Any], bytes, str] | None:
    """multipart/related: the JSON metadata part, then the media part."""
    content_type = req.headers.get("content-type", "")
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + req.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    if not message.is_multipart():
        return None
    parts = list(message.iter_parts())
    if len(parts) != 2:
        return None
    meta_bytes = parts[0].get_payload(decode=True)
    data = parts[1].get_payload(decode=True)
    if not isinstance(meta_bytes, bytes) or not isinstance(data, bytes):
        return None
    try:
        metadata = json.loads(meta_bytes)
    except ValueError:
        return None
    media_type = parts[1].get_content_type()
    return (metadata if isinstance(metadata, dict) else {}), data, media_type


def register(app: Sandbox) -> None:
    """Register the Cloud Storage routes (JSON API, upload and download paths)."""
    index = StorageIndex(app)
    app.reset_hooks.append(index.rebuild)

    def describe(base_url: str) -> dict[str, Any]:
        return {"storage": base_url, "storage_buckets": sorted(index.buckets)}

    app.describers.append(describe)

    def bucket_of(req: Request) -> StoredBucket | Response:
        bucket = index.buckets.get(req.params["bucket"])
        if bucket is None:
            return gcs_error(404, "The specified bucket does not exist.", "notFound")
        return bucket

    def no_such_object(bucket: StoredBucket, name: str) -> Response:
        return gcs_error(404, f"No such object: {bucket.name}/{name}", "notFound")

    def find(bucket: StoredBucket, req: Request, name: str) -> StoredObject | None:
        wanted = req.arg("generation")
        live = bucket.live.get(name)
        if wanted is None:
            return live
        if live is not None and str(live.generation) == wanted:
            return live
        for old in bucket.noncurrent:
            if old.name == name and str(old.generation) == wanted:
                return old
        return None

    def retention_refusal(bucket: StoredBucket, obj: StoredObject) -> Response | None:
        until = bucket.retained_until(obj)
        if until is None or datetime.now(UTC) >= until:
            return None
        return gcs_error(
            403,
            f"Object '{bucket.name}/{obj.name}' is subject to bucket's retention policy or "
            f"object retention and cannot be deleted or overwritten until "
            f"{until.astimezone(UTC).isoformat()}",
            "retentionPolicyNotMet",
        )

    def retire(bucket: StoredBucket, obj: StoredObject) -> None:
        """The live version is replaced or deleted: keep it only if versioning is on."""
        if bucket.versioning:
            obj.deleted = datetime.now(UTC)
            bucket.noncurrent.append(obj)

    def holds(bucket: StoredBucket, permission: str) -> bool:
        return bucket.caller_permissions is None or permission in bucket.caller_permissions

    def get_bucket(req: Request) -> Response:
        with app.lock:
            bucket = bucket_of(req)
            if isinstance(bucket, Response):
                return bucket
            if not holds(bucket, "storage.buckets.get"):
                return gcs_error(
                    403,
                    "The caller does not have storage.buckets.get access to the Google "
                    "Cloud Storage bucket. Permission 'storage.buckets.get' denied on "
                    "resource (or it may not exist).",
                    "forbidden",
                )
            return Response.json(render_bucket(bucket))

    def test_permissions(req: Request) -> Response:
        """buckets.testIamPermissions: `permissions` is repeated in the query; the answer
        lists the held ones, and leaves the field out when none is held."""
        asked = req.query.get("permissions") or []
        if not asked:
            return gcs_error(400, "Required parameter: permissions", "required")
        with app.lock:
            bucket = bucket_of(req)
            if isinstance(bucket, Response):
                return bucket
            held = [p for p in asked if holds(bucket, p)]
        body: dict[str, Any] = {"kind": "storage#testIamPermissionsResponse"}
        if held:
            body["permissions"] = held
        return Response.json(body)

    def get_object(req: Request) -> Response:
        with app.lock:
            bucket = bucket_of(req)
            if isinstance(bucket, Response):
                return bucket
            name = req.params["object"]
            obj = find(bucket, req, name)
            if obj is None:
                return no_such_object(bucket, name)
            failed = _preconditions(req, obj)
            if failed == "ifGenerationNotMatch":
                return Response.empty(304)  # a get answers "not modified" to this one
            if failed is not None:
                return _precondition_failed(failed)
            if req.arg("alt") == "media" or req.path.startswith("/download/"):
                return Response(
                    200,
                    obj.data,
                    {
                        "Content-Type": obj.content_type,
                        "x-goog-generation": str(obj.generation),
                        "x-goog-metageneration": str(obj.metageneration),
                        "x-goog-hash": f"crc32c={obj.crc32c()},md5={obj.md5()}",
                        "x-goog-stored-content-length": str(len(obj.data)),
                    },
                )
            return Response.json(render_object(req.base_url, bucket, obj))

    def insert_object(req: Request) -> Response:
        upload = req.arg("uploadType")
        if upload == "multipart":
            parsed = _parse_multipart(req)
            if parsed is None:
                return gcs_error(400, "Invalid multipart request.", "invalid")
            metadata, data, media_type = parsed
            name = str(metadata.get("name") or req.arg("name") or "")
            content_type = str(metadata.get("contentType") or media_type)
            custom = metadata.get("metadata") or {}
        elif upload == "media":
            metadata, data = {}, req.body
            name = req.arg("name") or ""
            content_type = req.headers.get("content-type", "application/octet-stream")
            custom = {}
        else:
            return gcs_error(
                400, f"Upload type {upload!r} is not emulated (media, multipart).", "invalid"
            )
        if not name:
            return gcs_error(400, "Required parameter: name", "required")
        with app.lock:
            bucket = bucket_of(req)
            if isinstance(bucket, Response):
                return bucket
            live = bucket.live.get(name)
            failed = _preconditions(req, live)
            if failed is not None:
                return _precondition_failed(failed)
            if live is not None:
                refused = retention_refusal(bucket, live)
                if refused is not None:
                    return refused
                retire(bucket, live)
            obj = StoredObject(
                name=name,
                data=data,
                generation=bucket.next_generation(),
                content_type=content_type,
                created=datetime.now(UTC),
                metadata={str(k): str(v) for k, v in dict(custom).items()},
            )
            bucket.live[name] = obj
            return Response.json(render_object(req.base_url, bucket, obj))

    def delete_object(req: Request) -> Response:
        with app.lock:
            bucket = bucket_of(req)
            if isinstance(bucket, Response):
                return bucket
            name = req.params["object"]
            live = bucket.live.get(name)
            if live is None:
                return no_such_object(bucket, name)
            failed = _preconditions(req, live)
            if failed is not None:
                return _precondition_failed(failed)
            refused = retention_refusal(bucket, live)
            if refused is not None:
                return refused
            del bucket.live[name]
            retire(bucket, live)
            return Response.empty(204)

    def list_objects(req: Request) -> Response:
        prefix = req.arg("prefix") or ""
        start = req.arg("startOffset") or ""
        size = req.int_arg("maxResults", LIST_MAX)
        size = LIST_MAX if size <= 0 else min(size, LIST_MAX)
        token = req.arg("pageToken")
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except ValueError:
            return gcs_error(400, "Invalid page token.", "invalid")
        with app.lock:
            bucket = bucket_of(req)
            if isinstance(bucket, Response):
                return bucket
            pool = list(bucket.live.values())
            if (req.arg("versions") or "").lower() == "true":
                pool += bucket.noncurrent
            matching = sorted(
                (o for o in pool if o.name.startswith(prefix) and o.name >= start),
                key=lambda o: (o.name, o.generation),
            )
            page = matching[offset : offset + size]
            body: dict[str, Any] = {
                "kind": "storage#objects",
                "items": [render_object(req.base_url, bucket, o) for o in page],
            }
            if offset + size < len(matching):
                body["nextPageToken"] = base64.urlsafe_b64encode(
                    str(offset + size).encode()
                ).decode()
            return Response.json(body)

    routes = [
        ("GET", f"{PREFIX}/b/{{bucket}}", get_bucket, "buckets.get"),
        (
            "GET",
            f"{PREFIX}/b/{{bucket}}/iam/testPermissions",
            test_permissions,
            "buckets.testIamPermissions",
        ),
        ("GET", f"{PREFIX}/b/{{bucket}}/o", list_objects, "objects.list"),
        ("GET", f"{PREFIX}/b/{{bucket}}/o/{{object}}", get_object, "objects.get"),
        ("GET", f"/download{PREFIX}/b/{{bucket}}/o/{{object}}", get_object, "objects.get"),
        ("POST", f"/upload{PREFIX}/b/{{bucket}}/o", insert_object, "objects.insert"),
        ("DELETE", f"{PREFIX}/b/{{bucket}}/o/{{object}}", delete_object, "objects.delete"),
    ]
    for method, path, handler, name in routes:
        app.add_route(method, path, handler, name=f"storage.{name}", api="storage")
