"""Read every system in scope concurrently into one Snapshot; called by the CLI and the daemon.

Each provider already bounds its own concurrency per API; the three systems are
independent, so they are read in parallel. A provider that raises instead of returning an
incomplete part (a bug, or an auth failure before the first page) still yields an
*incomplete* part: a failed read must never look like an empty system.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial

from reconciler.log import get_logger, redact_text
from reconciler.model import DesiredState, Person, ReadStatus, Snapshot, SnapshotPart, System
from reconciler.providers.base import Provider

log = get_logger(__name__)

ProgressFn = Callable[[System, str], None]


def _safe_read(
    system: System, read: Callable[[], SnapshotPart], on_progress: ProgressFn | None
) -> SnapshotPart:
    started = time.monotonic()
    if on_progress:
        on_progress(system, "reading")
    try:
        part = read()
    except Exception as exc:  # any failure means "unknown", never "absent"
        reason = redact_text(f"{type(exc).__name__}: {exc}")
        log.error("read_failed", system=system.value, reason=reason)
        part = SnapshotPart(
            system=system, status=ReadStatus(system, complete=False, problems=(reason,))
        )
    log.info(
        "read_done",
        system=system.value,
        complete=part.status.complete,
        seconds=round(time.monotonic() - started, 3),
        api_calls=part.status.api_calls,
        round_trips=part.status.round_trips,
    )
    if on_progress:
        on_progress(system, "complete" if part.status.complete else "incomplete")
    return part


def _redacted(part: SnapshotPart) -> SnapshotPart:
    """`part` with every problem redacted.

    Providers put the API's own error message into a problem ("GitHub answered 403: ..."),
    and an API or proxy may echo a credential there. Problems are printed by the CLI and
    copied into plan notes (saved plans), so they are redacted where every read passes: after
    *all* systems were read, because one system's error may echo a token another system's
    reader obtains (and registers) only later in the same run; redacting on the reader's own
    thread let that token through whenever the failing read finished first."""
    problems = tuple(redact_text(p) for p in part.status.problems)
    if problems == part.status.problems:
        return part
    return replace(part, status=replace(part.status, problems=problems))


def read_all(
    providers: Mapping[System, Provider],
    desired: DesiredState,
    now: datetime,
    *,
    on_progress: ProgressFn | None = None,
) -> Snapshot:
    """Read all systems in parallel. `now` stamps the snapshot (the shell owns the clock)."""
    gc.unfreeze()  # what an earlier run froze may be garbage by now: collectable again
    with ThreadPoolExecutor(max_workers=max(1, len(providers)), thread_name_prefix="read") as pool:
        futures = {
            system: pool.submit(
                _safe_read, system, partial(provider.read, desired, now), on_progress
            )
            for system, provider in providers.items()
        }
        parts = [_redacted(f.result()) for f in futures.values()]
    settle_heap()
    return Snapshot.of(now, parts)


def settle_heap() -> None:
    """Collect the read's leftovers once, then freeze what survives (the parts read, the
    desired state, the client libraries) out of the collector's sight.

    A large read leaves millions of objects; the planner then allocates fast, and every
    oldest-generation collection it triggers walked all of them again: at 10,000 people
    most of the plan's time was the garbage collector. Frozen objects are still freed when
    no longer referenced; `read_all` unfreezes at its start, so a long-lived daemon can
    still collect cycles among what an earlier run froze."""
    gc.collect()
    gc.freeze()


def read_person_everywhere(
    providers: Mapping[System, Provider],
    person: Person,
    now: datetime,
    *,
    on_progress: ProgressFn | None = None,
) -> Snapshot:
    """Reverse look-ups for one person (emergency offboarding): cost independent of org size."""
    with ThreadPoolExecutor(max_workers=max(1, len(providers)), thread_name_prefix="read") as pool:
        futures = {
            system: pool.submit(
                _safe_read, system, partial(provider.read_person, person), on_progress
            )
            for system, provider in providers.items()
        }
        parts = [_redacted(f.result()) for f in futures.values()]
    return Snapshot.of(now, parts)
