"""How an HTTP API's failure maps onto the project's error hierarchy, shared by the Google
Workspace and GCP providers' error translation (one rule, so the two cannot drift apart)."""

from __future__ import annotations

import http.client

import httplib2

from reconciler.errors import (
    ConflictError,
    PermanentProviderError,
    ProviderError,
    TemporaryProviderError,
)

# Failures below HTTP: the request may or may not have arrived, so they are temporary. A
# dropped or reset connection is an OSError; a truncated or garbled answer is an
# http.client.HTTPException (IncompleteRead, BadStatusLine) that is not one; httplib2 adds
# its own (ServerNotFoundError, RelativeURIError...).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    httplib2.HttpLib2Error,
    http.client.HTTPException,
)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in the delta-seconds form Google sends; None if absent or not a
    number (the HTTP-date form is not used by these APIs)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def error_for_status(
    message: str, status: int, retry_after: float | None, *, temporary: bool = False
) -> ProviderError:
    """429 and 5xx are temporary and carry the server's wait hint, as is whatever else the
    caller knows to be temporary (`temporary`: a rate limit in another guise, no status at
    all); 409 is a conflict (re-read and re-plan); every other status is permanent. Status 0
    is reported as None."""
    if temporary or status == 429 or status >= 500:
        return TemporaryProviderError(message, status=status or None, retry_after=retry_after)
    if status == 409:
        return ConflictError(message, status=status)
    return PermanentProviderError(message, status=status)
