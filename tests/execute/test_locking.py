"""The run lock across real processes: one run at a time, the holder is named, a waiting run
gets the lock when the holder finishes, and a killed holder releases it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.locking import LOCK_FILE, RunLockBusy, read_holder, run_lock

HOLDER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from reconciler.locking import run_lock
    with run_lock(sys.argv[1], run_id="nightly-1", command="apply --confirm"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


@pytest.fixture
def holder_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock for up to 30 s (killed at teardown)."""
    proc = _start_holder(tmp_path, hold_seconds=30)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def _start_holder(state_dir: Path, hold_seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(state_dir), str(hold_seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_fails_at_once_naming_the_holder(
    tmp_path: Path, holder_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(RunLockBusy) as busy:  # noqa: SIM117 - the inner block must not run
        with run_lock(tmp_path, run_id="manual-2", command="apply"):
            pytest.fail("acquired a lock another process holds")
    assert busy.value.holder is not None
    assert busy.value.holder.pid == holder_process.pid
    assert busy.value.holder.run_id == "nightly-1"
    message = str(busy.value)
    assert f"pid {holder_process.pid}" in message
    assert "nightly-1" in message and "apply --confirm" in message


def test_second_run_waits_up_to_the_timeout_then_fails(
    tmp_path: Path, holder_process: subprocess.Popen[str]
) -> None:
    started = time.monotonic()
    with pytest.raises(RunLockBusy, match=r"waited 0\.[5-9]"):  # noqa: SIM117
        with run_lock(tmp_path, run_id="r2", command="apply", timeout=0.6, poll_interval=0.05):
            pytest.fail("acquired a held lock")
    assert 0.55 <= time.monotonic() - started < 5


def test_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    proc = _start_holder(tmp_path, hold_seconds=0.5)
    started = time.monotonic()
    try:
        with run_lock(tmp_path, run_id="r2", command="apply", timeout=20, poll_interval=0.05) as me:
            assert time.monotonic() - started >= 0.4  # it had to wait for the holder
            assert read_holder(tmp_path / LOCK_FILE) == me
            assert me.pid == os.getpid()
    finally:
        proc.wait(timeout=10)
    assert read_holder(tmp_path / LOCK_FILE) is None  # released: no stale holder record


def test_a_killed_holder_releases_the_lock(
    tmp_path: Path, holder_process: subprocess.Popen[str]
) -> None:
    holder_process.kill()  # SIGKILL: no cleanup code runs in the holder
    holder_process.wait(timeout=10)
    with run_lock(tmp_path, run_id="after-crash", command="apply") as me:
        assert me.run_id == "after-crash"


def test_the_lock_is_exclusive_within_one_process_too(tmp_path: Path) -> None:
    with run_lock(tmp_path, run_id="a", command="apply"):  # noqa: SIM117
        with pytest.raises(RunLockBusy, match="run a"):
            with run_lock(tmp_path, run_id="b", command="apply"):
                pytest.fail("nested acquisition succeeded")
