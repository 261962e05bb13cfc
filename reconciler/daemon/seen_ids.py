"""Ids the daemon has already acted on, remembered in the state store (bounded, with the time
each was seen): webhook delivery ids, so a redelivered or replayed webhook runs nothing, and
the findings and holds already notified, so a notification is sent once. Used by the webhook
endpoint and the runner."""

from __future__ import annotations

import threading
from datetime import datetime

from reconciler.state import StateStore

DELIVERIES = "webhook-deliveries.json"
NOTIFIED = "notified.json"
KEEP = 10_000  # GitHub redelivers within days; 10,000 deliveries is weeks for one org


class SeenIds:
    """One state document: `{"seen": [{"id": ..., "at": ...}, ...]}`, oldest first, at most
    `keep` entries. Thread-safe within the process (the daemon is one process per state
    dir); read once, written on every new id, so a restart remembers."""

    def __init__(self, store: StateStore, document: str, keep: int = KEEP) -> None:
        self._store = store
        self._document = document
        self._keep = keep
        self._lock = threading.Lock()
        self._entries: list[dict[str, str]] | None = None

    def _load(self) -> list[dict[str, str]]:
        if self._entries is None:
            data = self._store.read_json(self._document)
            seen = data.get("seen") if isinstance(data, dict) else None
            self._entries = [
                e for e in (seen or []) if isinstance(e, dict) and isinstance(e.get("id"), str)
            ]
        return self._entries

    def first_time(self, key: str, at: datetime) -> bool:
        """Remember `key`; True when it was not known before. Raises `StateStoreError` when
        the document cannot be read or written (the caller must not act as if it were new)."""
        with self._lock:
            entries = self._load()
            if any(e["id"] == key for e in entries):
                return False
            kept = [*entries, {"id": key, "at": at.isoformat()}][-self._keep :]
            self._store.write_json(self._document, {"seen": kept})
            self._entries = kept  # only once written: a failed write forgets nothing
            return True
