"""Where the daemon's yearly inventory is archived, and the writing of it: a local directory or
a gs:// location, chosen from the settings by `open_inventory_archive`; called by the daemon's
inventory job (`reconciler.daemon.running`) and checked at start by its configuration.

The inventory is the auditors' evidence (policy 第5.2条2), so it is written like the audit
log: each run into its own folder `<location>/<year>/<run id>/`, every file created once and
never replaced (a second run of the same year lands beside the first), the manifest last,
so a folder without `manifest.json` is a run that did not finish. With a gs:// state store
the inventory goes to Cloud Storage too: the service's local disk (Cloud Run) does not
survive the run, and evidence written there would vanish.

`reconciler inventory --out DIR` writes its own directory and does not come here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.settings import Settings
from reconciler.state.local import StateStoreError

MANIFEST = "manifest.json"
INVENTORY_DIR = "inventory"


class InventoryArchive(Protocol):
    """Writes one inventory run's files; raises `StateStoreError` naming the file that could
    not be written (or already exists)."""

    def describe(self) -> str: ...

    def write(self, year: int, run_id: str, files: Mapping[str, bytes]) -> str:
        """Create every file of `files` under `<year>/<run_id>/`, `manifest.json` last;
        returns where the folder is (a path or a gs:// URL)."""
        ...


@dataclass(frozen=True)
class InventoryTarget:
    """The resolved location: a gs:// URL or a local directory, and which setting gave it."""

    location: str
    setting: str

    @property
    def is_gcs(self) -> bool:
        return self.location.startswith("gs://")


def in_writing_order(files: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """Every file in name order, the manifest last: it is the proof the folder is whole."""
    return sorted(files.items(), key=lambda item: (item[0] == MANIFEST, item[0]))


def inventory_target(settings: Settings) -> InventoryTarget:
    """Where the inventory goes, or `StateStoreError` naming the setting to fix.

    RECONCILER_INVENTORY_URL (gs://BUCKET/PREFIX or a directory) when set. Otherwise, with a
    gs:// state store, the audit bucket's `inventory/` (RECONCILER_AUDIT_URL: retained, the
    runtime may create there but never delete, so the evidence cannot be removed), or
    `<state prefix>/inventory` in the state bucket when there is no audit bucket. Otherwise
    RECONCILER_INVENTORY_DIR, default `<state dir>/inventory`. A local directory with a gs://
    state store is refused: the service keeping its state in a bucket has no disk that lasts.
    """
    state = settings.state_location()
    if settings.inventory_url and settings.inventory_url.strip():
        target = InventoryTarget(settings.inventory_url.strip(), "RECONCILER_INVENTORY_URL")
    elif state.startswith("gs://"):
        if settings.inventory_dir is not None:
            raise StateStoreError(
                f"RECONCILER_INVENTORY_DIR={settings.inventory_dir} is a local directory but "
                f"the state store is {state}: the inventory would vanish with the instance; "
                "unset it (the default is the audit bucket) or set RECONCILER_INVENTORY_URL="
                "gs://BUCKET/PREFIX"
            )
        setting = "RECONCILER_AUDIT_URL" if settings.audit_url else "RECONCILER_STATE_URL"
        target = InventoryTarget(_default_gcs_location(settings), setting)
    else:
        directory = settings.inventory_dir or settings.state_dir / INVENTORY_DIR
        return InventoryTarget(str(directory), "RECONCILER_INVENTORY_DIR")
    if not target.is_gcs and state.startswith("gs://"):
        raise StateStoreError(
            f"{target.setting}={target.location} is a local directory but the state store is "
            f"{state}: the inventory would vanish with the instance; give a gs:// URL"
        )
    if target.is_gcs:
        _check_not_in_audit_segments(settings, target)
    return target


def _default_gcs_location(settings: Settings) -> str:
    from reconciler.state.gcs import GcsLocation

    try:
        if settings.audit_url:
            audit = GcsLocation.parse(settings.audit_url)
            return GcsLocation(audit.bucket, INVENTORY_DIR).url()
        state = GcsLocation.parse(settings.state_location())
    except ValueError as exc:
        setting = "RECONCILER_AUDIT_URL" if settings.audit_url else "RECONCILER_STATE_URL"
        raise StateStoreError(f"{setting}: {exc}") from None
    return state.url(INVENTORY_DIR)  # beside <prefix>/audit, never inside it


def _check_not_in_audit_segments(settings: Settings, target: InventoryTarget) -> None:
    """The audit log treats every object under its segments' prefix as a segment (an object
    that is not one fails `audit verify`), so the inventory must never be put there."""
    from reconciler.state.gcs import AUDIT_DIR, GcsLocation

    try:
        where = GcsLocation.parse(target.location)
        state = settings.state_location()
        if settings.audit_url:
            segments = GcsLocation.parse(settings.audit_url)
        elif state.startswith("gs://"):
            parsed = GcsLocation.parse(state)
            segments = GcsLocation(parsed.bucket, parsed.name(AUDIT_DIR))
        else:
            return
    except ValueError as exc:
        raise StateStoreError(f"{target.setting}: {exc}") from None
    inside = not segments.prefix or f"{where.prefix}/".startswith(f"{segments.prefix}/")
    if where.bucket == segments.bucket and inside:
        raise StateStoreError(
            f"{target.setting}: the inventory location {target.location} is inside the audit "
            f"segments {segments.url()}, where every object must be an audit record; give "
            "the audit URL a prefix (gs://BUCKET/audit) or the inventory another location"
        )


def open_inventory_archive(settings: Settings) -> InventoryArchive:
    """The archive `inventory_target` names (the sandbox's Cloud Storage emulation when
    RECONCILER_SANDBOX_URL is set)."""
    target = inventory_target(settings)
    if not target.is_gcs:
        return LocalInventoryArchive(Path(target.location))
    from reconciler.state.gcs import GcsInventoryArchive, GcsLocation, storage_client

    return GcsInventoryArchive(
        storage_client(settings.sandbox_url), GcsLocation.parse(target.location)
    )


class LocalInventoryArchive:
    """`<directory>/<year>/<run id>/`, each file created exclusively and fsynced."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return str(self.directory)

    def write(self, year: int, run_id: str, files: Mapping[str, bytes]) -> str:
        folder = self.directory / str(year) / run_id
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateStoreError(f"cannot create {folder}: {exc.strerror or exc}") from None
        for name, data in in_writing_order(files):
            path = folder / name
            try:
                with path.open("xb") as handle:  # never replace a file of an earlier write
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except FileExistsError:
                raise StateStoreError(
                    f"{path} already exists; inventory files are never overwritten"
                ) from None
            except OSError as exc:
                raise StateStoreError(f"cannot write {path}: {exc.strerror or exc}") from None
        return str(folder)


__all__ = [
    "MANIFEST",
    "InventoryArchive",
    "InventoryTarget",
    "LocalInventoryArchive",
    "in_writing_order",
    "inventory_target",
    "open_inventory_archive",
]
