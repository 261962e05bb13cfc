"""The in-process triggers: cron schedules read in the organisation's timezone, and polling
of a real git repo (a new commit on the branch queues one reconcile, an unchanged head none)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from reconciler.daemon.configuring import schedules_of
from reconciler.daemon.fetching import DesiredRepo
from reconciler.daemon.jobs import Job, JobKind
from reconciler.daemon.scheduling import next_fire, run_polling
from reconciler.settings import Settings
from tests.daemon.served import commit, git, wait_for


def test_the_default_schedules_fire_at_their_local_times_in_the_organisations_timezone() -> None:
    schedules = schedules_of(Settings(schedules=True))
    after = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    fires = {(s.setting, s.cron): next_fire(s, after, "Asia/Tokyo").isoformat() for s in schedules}
    assert fires == {
        ("schedule_drift", "0 2 * * *"): "2026-12-01T17:00:00+00:00",  # 02:00 JST on the 2nd
        ("schedule_sweep", "0 18 * * *"): "2026-12-02T09:00:00+00:00",  # 18:00 JST on the 2nd
        ("schedule_sweep", "30 23 * * *"): "2026-12-01T14:30:00+00:00",  # 23:30 JST today
        ("schedule_resync", "0 3 * * 0"): "2026-12-05T18:00:00+00:00",  # Sunday 03:00 JST
    }
    assert schedules_of(Settings()) == ()  # off unless enabled


def test_polling_queues_one_reconcile_when_the_branch_moves(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "--quiet", "--initial-branch", "main")
    (origin / "organization.yaml").write_text("name: Example\n", encoding="utf-8")
    first = commit(origin, "first")
    repo = DesiredRepo(str(origin), "main", tmp_path / "work")
    assert repo.prepare() == first
    submitted: list[Job] = []
    stopping = threading.Event()
    poller = threading.Thread(
        target=run_polling, args=(repo, 0.05, first, submitted.append, stopping), daemon=True
    )
    poller.start()
    try:
        (origin / "roles.yaml").write_text("{}\n", encoding="utf-8")
        second = commit(origin, "second")
        wait_for(lambda: submitted, "the poller to see the new head")
        assert submitted == [Job(JobKind.RECONCILE, "poll")]
        with repo.checkout(second) as checkout:  # a clean worktree of the new commit
            assert (checkout / "roles.yaml").read_text(encoding="utf-8") == "{}\n"
        assert not (tmp_path / "work" / "checkouts" / checkout.name).exists()
    finally:
        stopping.set()
        poller.join(5)
    assert len(submitted) == 1  # the unchanged head afterwards queued nothing more
