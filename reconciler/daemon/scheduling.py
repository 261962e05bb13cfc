"""In-process triggers: cron schedules in the organisation's timezone (croniter) and polling
of the desired-state repo (`--poll 5m`: fetch, reconcile when the branch head moved), each on
its own thread that only submits jobs; started by the daemon, stopped by its stop flag."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from reconciler.daemon.configuring import Schedule
from reconciler.daemon.fetching import DesiredRepo, GitError
from reconciler.daemon.jobs import Job, JobKind
from reconciler.log import get_logger

log = get_logger(__name__)

Submit = Callable[[Job], None]


def next_fire(schedule: Schedule, after: datetime, timezone: str) -> datetime:
    """The schedule's next instant after `after`, its cron read in `timezone`."""
    local = after.astimezone(ZoneInfo(timezone))
    fire: datetime = croniter(schedule.cron, local).get_next(datetime)
    return fire.astimezone(UTC)


def run_schedules(
    schedules: Sequence[Schedule],
    timezone: Callable[[], str],
    submit: Submit,
    stopping: threading.Event,
) -> None:
    """Sleep until the next schedule, submit its job, repeat, until `stopping`. The timezone
    is asked each time: it comes from organization.yaml, which a commit may change."""
    while not stopping.is_set():
        now = datetime.now(UTC)
        tz = timezone()
        due = sorted(((next_fire(s, now, tz), i) for i, s in enumerate(schedules)))
        when, index = due[0]
        if stopping.wait(max(0.0, (when - datetime.now(UTC)).total_seconds())):
            return
        schedule = schedules[index]
        log.info("schedule due", setting=schedule.setting, cron=schedule.cron, timezone=tz)
        submit(schedule.job)


def run_polling(
    repo: DesiredRepo, seconds: float, first: str | None, submit: Submit, stopping: threading.Event
) -> None:
    """Every `seconds`: fetch, and reconcile when the branch head is not `first` (the head
    the start-up run saw) nor the last one seen."""
    seen = first
    while not stopping.wait(seconds):
        try:
            head = repo.fetch()
        except GitError as exc:
            log.warning("poll failed", error=str(exc))
            continue
        if head != seen:
            log.info("branch moved", branch=repo.branch, commit=head)
            seen = head
            submit(Job(JobKind.RECONCILE, "poll"))


def start_thread(name: str, target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
