"""The project's error hierarchy. Retry meaning travels in the type (kopf's habit):
`TemporaryProviderError` may be retried, `PermanentProviderError` may not."""

from __future__ import annotations


class ReconcilerError(Exception):
    """Base of every error the product raises on purpose."""


class ProviderError(ReconcilerError):
    """A call to Google, GitHub or GCP failed. Messages never contain secrets."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TemporaryProviderError(ProviderError):
    """Rate limits, 5xx, timeouts, dropped connections: worth retrying with backoff."""


class PermanentProviderError(ProviderError):
    """Bad request, forbidden, not found: retrying cannot help."""


class ConflictError(ProviderError):
    """A concurrent change (GCP etag mismatch, 409): re-read and re-plan, then retry."""


class IncompleteReadError(ProviderError):
    """A read could not be completed; the system's data must not be used for removals."""
