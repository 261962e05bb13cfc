"""Messages (`model.Message`, built with `msg`): the English of a finding or note is what
`Finding.message` keeps, each language words it at output time (dates in the organisation's
timezone, lists joined its way), and a saved plan brings its messages back as they were, with
the same checksum."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from reconciler.execute import load_plan, save_plan
from reconciler.model import Finding, Note, NoteKind, Plan, Severity, msg
from reconciler.reports.i18n import language

HELD = (msg("an active Google account"), msg("group %(group)s", group="eng@example.co.jp"))
LEAVER = msg(
    "%(person)s has left but still holds %(held)s (%(hours)s hours past the offboarding time "
    "%(ends_at)s)",
    person="e0042",
    held=HELD,
    hours="3.0",
    ends_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),  # 18:00 in Tokyo
)
TRAINING = msg(
    "%(person)s's last security training: %(trained_on)s; it is due once a year",
    person="e0042",
    trained_on=date(2025, 9, 10),
)


def test_the_english_is_the_plain_message_with_iso_dates() -> None:
    assert str(LEAVER) == (
        "e0042 has left but still holds an active Google account, group eng@example.co.jp "
        "(3.0 hours past the offboarding time 2026-11-25T09:00:00+00:00)"
    )


def test_each_language_words_it_with_dates_in_the_organisations_timezone() -> None:
    assert language("ja").render(LEAVER, "Asia/Tokyo") == (
        "退職者 e0042 にアクセス権限が残っています(オフボーディング期限 2026年11月25日 18:00 "
        "から 3.0 時間経過): 有効な Google アカウント、グループ eng@example.co.jp"
    )
    assert (
        language("en")
        .render(LEAVER, "Asia/Tokyo")
        .endswith("(3.0 hours past the offboarding time 25 Nov 2026 18:00)")
    )
    assert language("ja").render(TRAINING, "Asia/Tokyo") == (
        "e0042 のセキュリティ教育の最終受講日は 2025年9月10日 です。年1回の受講が必要です"
    )


def test_a_finding_or_note_without_a_message_keeps_its_words_in_every_language() -> None:
    hand_made = Note(NoteKind.ADVICE, "50% of the plan was written by hand")
    assert language("ja").words(hand_made, "Asia/Tokyo") == "50% of the plan was written by hand"


def test_instants_and_days_are_named_so_a_saved_plan_reads_them_back() -> None:
    with pytest.raises(ValueError, match="instants end in _at, days in _on"):
        msg("%(when)s", when=datetime(2026, 11, 25, tzinfo=UTC))
    with pytest.raises(ValueError, match="instants end in _at, days in _on"):
        msg("%(start)s", start=date(2026, 4, 1))


def test_a_saved_plan_brings_its_messages_back_with_the_same_checksum(tmp_path: Path) -> None:
    finding = Finding(
        "leaver-has-access", Severity.CRITICAL, "第5.2条3", None, "x@example.co.jp",
        str(LEAVER), "e0042", LEAVER,
    )  # fmt: skip
    note = Note(NoteKind.ADVICE, str(TRAINING), person_id="e0042", text=TRAINING)
    plan = Plan(datetime(2026, 11, 25, 12, tzinfo=UTC), (), (finding,), "f" * 64, notes=(note,))
    path = tmp_path / "plan.json"

    save_plan(plan, path)
    loaded = load_plan(path)

    assert loaded == plan and loaded.checksum == plan.checksum
    assert language("ja").words(loaded.findings[0], "Asia/Tokyo").startswith("退職者 e0042")
    assert language("ja").words(loaded.notes[0], "Asia/Tokyo").endswith("年1回の受講が必要です")
