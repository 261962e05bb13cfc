"""A single state document as a load/save object (`providers.base.DocumentCache`), so a
provider can keep a cache between runs without importing the state store; built by the CLI
and the daemon when they connect the providers (`github-cache.json`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.state.local import StateStore

GITHUB_CACHE_DOCUMENT = "github-cache.json"


@dataclass(frozen=True)
class StoredDocument:
    """Document `name` of `store`. Reads and writes raise `StateStoreError` like the store."""

    store: StateStore
    name: str

    def load(self) -> Any:
        return self.store.read_json(self.name)

    def save(self, document: Any) -> None:
        self.store.write_json(self.name, document)
