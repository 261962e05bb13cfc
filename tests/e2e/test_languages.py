"""`--lang ja|en` end to end: the real CLI, providers and client libraries against the sandbox.
Not only the fixed words but the findings' details, the planner's notes and apply's summary
lines come out in the chosen language (gettext catalogues in reconciler/locale), with dates in
the organisation's timezone, and in English under `--lang en`."""

from __future__ import annotations

import json
import re
from datetime import datetime, time
from pathlib import Path

from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import LEAVER, LEAVER_EMAIL, TZ, cli, setup, today

# The GitHub member list fails (a permanent error, not retried): the plan holds back GitHub's
# changes and says so in a held-back note.
_MEMBER_LIST_FORBIDDEN = {
    "method": "POST",
    "path": "^/graphql$",
    "nth": 1,
    "status": 403,
    "body": {"message": "Resource not accessible by integration"},
}


def _at(hour: int) -> datetime:
    """Today (Tokyo) at `hour`: the scenario's leaver's access ended at 00:00 today."""
    return datetime.combine(today(), time(hour), TZ)


def _flat(output: str) -> str:
    """The output with line breaks and the indentation after them removed, so a note the
    160-column console wrapped reads as one line again."""
    return " ".join(line.strip() for line in output.splitlines())


def test_plan_shows_finding_details_and_held_back_notes_in_the_chosen_language(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    outputs = {}
    for lang in ("ja", "en"):
        sandbox.sandbox.add_fault(dict(_MEMBER_LIST_FORBIDDEN))
        result = cli(["plan", "--dir", str(directory), "--format", "markdown", "--lang", lang], env)
        assert result.exit_code == 3, result.output  # partial: the GitHub read was incomplete
        outputs[lang] = result.stdout

    ja, en = outputs["ja"], outputs["en"]
    assert f"退職者 {LEAVER} にアクセス権限が残っています(オフボーディング期限 " in ja
    assert f"{today().year}年{today().month}月{today().day}日 00:00 から" in ja  # Tokyo, ja date
    assert "注記: github の読み取りが不完全です(members: GitHub answered 403" in ja
    assert "を保留しました: 招待 " in ja  # the held-back count, worded in Japanese
    assert "has left but still holds" not in ja and "read incomplete" not in ja
    assert f"{LEAVER} has left but still holds " in en
    assert "note: github read incomplete (members: GitHub answered 403" in en
    assert "退職者" not in en


def test_plan_text_view_words_notes_in_japanese(sandbox: SandboxServer, tmp_path: Path) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    sandbox.sandbox.add_fault(dict(_MEMBER_LIST_FORBIDDEN))

    result = cli(["plan", "--dir", str(directory), "--lang", "ja"], env)

    assert result.exit_code == 3, result.output
    notes = _flat(result.stdout)
    assert "注記: github の読み取りが不完全です(members: GitHub answered 403" in notes
    assert "github の読み取り: 不完全" in _flat(result.output)  # the read's line on stderr


def test_drift_json_words_finding_messages_and_held_access_in_the_chosen_language(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)
    base = ["drift", "--dir", str(directory), "--at", _at(9).isoformat(), "--format", "json"]

    documents = {}
    for lang in ("ja", "en"):
        result = cli([*base, "--lang", lang], env)
        assert result.exit_code == 0, result.output
        documents[lang] = json.loads(result.stdout)

    def leaver_finding(document: dict[str, object]) -> dict[str, object]:
        findings = document["findings"]
        assert isinstance(findings, list)
        return next(
            f for f in findings if f["code"] == "leaver-has-access" and f["person_id"] == LEAVER
        )

    ja, en = leaver_finding(documents["ja"]), leaver_finding(documents["en"])
    assert str(ja["message"]).startswith(f"退職者 {LEAVER} にアクセス権限が残っています")
    assert "有効な Google アカウント" in str(ja["message"])
    assert str(en["message"]).startswith(f"{LEAVER} has left but still holds an active Google")
    # the same message id and values in both, for tools that must not depend on the language
    assert ja["message_id"] == en["message_id"] and ja["params"] == en["params"]
    assert (documents["ja"]["lang"], documents["en"]["lang"]) == ("ja", "en")
    (late_ja,) = documents["ja"]["overdue_leavers"]  # type: ignore[misc]
    (late_en,) = documents["en"]["overdue_leavers"]  # type: ignore[misc]
    assert late_ja["email"] == LEAVER_EMAIL
    assert "有効な Google アカウント" in late_ja["held"]
    assert "an active Google account" in late_en["held"]


def test_apply_prints_its_notes_and_summary_in_the_chosen_language(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    dry = cli(["apply", "--dir", str(directory), "--lang", "en"], env)
    assert dry.exit_code == 0, dry.output
    english = _flat(dry.stdout)
    assert "action(s) would be applied; nothing was changed." in english
    assert "note: e0011: teams example-co/backend wait until hnewcomer accepts" in english
    assert "件の操作" not in english and "注記" not in english

    applied = cli(["apply", "--dir", str(directory), "--confirm", "--lang", "ja"], env)

    assert applied.exit_code == 0, applied.output
    out = _flat(applied.stdout)
    assert re.search(r"実行 \S+: \d+ 件適用、0 件は変更なし\(適用済み\)、0 件失敗、拒否 0 件", out)
    assert f"{LEAVER} の offboarding-complete を記録しました" in out
    assert "注記: e0011: チーム example-co/backend への追加は、hnewcomer が example-co" in out
    assert "確認: `reconciler plan` が変更なし(終了コード 0)になるはずです。" in out
    assert "applied," not in out and "note:" not in out and "recorded for" not in out
    assert "github の読み取り: 完了 (API 呼び出し " in _flat(applied.output)  # stderr too


def test_offboard_words_its_summary_and_the_repo_change_to_commit_in_the_chosen_language(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory, _, env = setup(sandbox, tmp_path)

    ja = cli(["offboard", LEAVER, "--now", "--dir", str(directory), "--lang", "ja"], env)
    en = cli(["offboard", LEAVER, "--now", "--dir", str(directory), "--lang", "en"], env)

    assert ja.exit_code == 0 and en.exit_code == 0, ja.output + en.output
    japanese, english = _flat(ja.stdout), _flat(en.stdout)
    assert "件の操作を適用する予定です。何も変更していません。" in japanese
    assert "リポジトリと実態を一致させるため、確定実行後に " in japanese
    assert f"employment.end: {today()}" in japanese and "(変更後の行: employment: {" in japanese
    assert "Commit this change to " in english and "after confirming" in english
    assert "リポジトリ" not in english
