"""The shared read tally: calls, round trips and problems become one ReadStatus."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from reconciler.model import System
from reconciler.providers.tally import ReadTally


def test_a_tally_without_problems_is_a_complete_read_with_its_counts() -> None:
    tally = ReadTally(System.GOOGLE)
    tally.count()
    tally.count(api_calls=1000, round_trips=1)  # one batch
    status = tally.status()
    assert status.system is System.GOOGLE
    assert status.complete
    assert (status.api_calls, status.round_trips) == (1001, 2)


def test_any_problem_makes_the_read_incomplete_and_keeps_the_order() -> None:
    tally = ReadTally(System.GITHUB)
    tally.problem("teams: HTTP 502")
    tally.problems_from(["members page 3: timeout", "invitations: 403"])
    status = tally.status()
    assert not status.complete and not tally.complete
    assert status.problems == ("teams: HTTP 502", "members page 3: timeout", "invitations: 403")


def test_counts_from_many_threads_are_not_lost() -> None:
    tally = ReadTally(System.GCP)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(2000):
            pool.submit(tally.count)
    assert (tally.api_calls, tally.round_trips) == (2000, 2000)
