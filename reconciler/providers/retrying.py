"""The one retry policy for every provider call (STYLE: one way to do a thing).

Providers translate client exceptions into `TemporaryProviderError` (with the server's
Retry-After / x-ratelimit-reset hint when there is one), `ConflictError` or
`PermanentProviderError`; only temporary errors are retried here, with jittered exponential
backoff, never sooner than the server asked, and never past an overall deadline. The client
libraries' own retries are switched off so this is the only policy in force.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from reconciler.errors import TemporaryProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial_wait: float = 0.5  # Google's limits page: 1 s, 2 s, 4 s ... plus random ms
    max_wait: float = 32.0
    deadline: float = 120.0  # seconds for one logical call, retries included
    sleep: Callable[[float], None] | None = None  # tests pass a recorder; None = time.sleep

    def wait_for(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = min(self.max_wait, self.initial_wait * 2.0 ** (state.attempt_number - 1))
        backoff += random.uniform(0, backoff / 2)  # noqa: S311 - jitter, not crypto
        hinted = exc.retry_after if isinstance(exc, TemporaryProviderError) else None
        if hinted is not None:
            # The server said when: waiting less only burns quota (GitHub may ban clients
            # that keep calling while limited), so the hint is a floor.
            return min(max(hinted, 0.0), self.deadline)
        return backoff


DEFAULT_POLICY = RetryPolicy()


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy = DEFAULT_POLICY) -> T:
    """Run `fn`, retrying `TemporaryProviderError` under `policy`; re-raise the last error."""
    retrying = Retrying(
        retry=retry_if_exception_type(TemporaryProviderError),
        wait=policy.wait_for,
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline),
        reraise=True,
        sleep=policy.sleep if policy.sleep is not None else time.sleep,
    )
    return retrying(fn)
