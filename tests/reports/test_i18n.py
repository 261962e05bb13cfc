"""The ja/en catalogues: every message the plan and report renderers use is in both .po
files, translated in Japanese with the same placeholders; they compile at runtime (no .mo to
build); dates are in the organisation's timezone, worded per language; organization.yaml's
`language` is validated."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.util import pathmatch

from reconciler.desired.loading import load_desired_dir
from reconciler.desired.problems import ValidationFailed
from reconciler.reports.i18n import LANGUAGES, LOCALE_DIR, catalogue_path, language
from tests.e2e.scenario import write_repo

ROOT = Path(__file__).resolve().parents[2]
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
_MESSAGE_CALL = re.compile(r"\bmsg\(\s*\"")


def _used_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of what `make messages` extracts, by the same mapping file
    (reconciler/locale/babel.cfg) and keywords."""
    with (LOCALE_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = extract_from_dir(
        str(ROOT),
        method_map=method_map,
        options_map=options_map,
        keywords={
            "_": None,
            "gettext": None,
            "ngettext": (1, 2),
            "msg": None,
            "reason_words": None,
            "NC_": ((1, "c"), 2),
        },
    )
    return {(context, message) for _file, _line, message, _comments, context in found}


def _catalogue(code: str) -> dict[tuple[str | None, str], str]:
    """(context, msgid) -> msgstr: a word in its own context ("target", an inventory
    column) is another message than the same word without one."""
    with catalogue_path(code).open("rb") as po:
        return {(m.context, str(m.id)): str(m.string) for m in read_po(po) if m.id}


def test_every_message_is_in_both_catalogues_and_translated_in_japanese() -> None:
    used = _used_messages()
    assert (None, "Drift report") in used and (None, "Access plan") in used  # found them
    # ... and the findings' and notes' messages, `msg("...")` in the checks and the planner
    assert (None, "%(account)s has not enrolled in 2-Step Verification") in used
    assert (None, "%(system)s was not read: nothing is planned for it") in used
    # ... and the inventory's column headers, each in its context (`NC_`)
    assert ("inventory grants column", "target") in used and (None, "target") in used
    for code in LANGUAGES:
        missing = sorted(used - set(_catalogue(code)))
        assert not missing, f"{code}: run `make messages` and translate: {missing}"
    untranslated = sorted(m for m, s in _catalogue("ja").items() if m in used and not s)
    assert not untranslated, f"ja: translate {untranslated}"


def test_every_module_that_builds_messages_is_extracted() -> None:
    """A `msg("...")` in a module babel.cfg does not list would never reach the catalogues:
    its words would stay English in every language, and the test above could not see it."""
    with (LOCALE_DIR / "babel.cfg").open() as cfg:
        method_map, _options = parse_mapping_cfg(cfg)
    patterns = [pattern for pattern, method in method_map if method == "python"]
    builders = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "reconciler").rglob("*.py")
        if _MESSAGE_CALL.search(path.read_text(encoding="utf-8"))
    ]
    assert "reconciler/policy/people.py" in builders  # the search found them
    missing = [p for p in builders if not any(pathmatch(pattern, p) for pattern in patterns)]
    assert not missing, f"add these to reconciler/locale/babel.cfg: {missing}"


def test_translations_keep_every_placeholder() -> None:
    for (_context, message), translated in _catalogue("ja").items():
        assert sorted(_PLACEHOLDER.findall(message)) == sorted(_PLACEHOLDER.findall(translated)), (
            message
        )


def test_catalogues_compile_at_runtime_and_translate() -> None:
    assert language("ja").gettext("Drift report") == "差分レポート"
    assert language("en").gettext("Drift report") == "Drift report"
    assert not list(LOCALE_DIR.rglob("*.mo"))  # nothing to build or to forget to rebuild


def test_dates_are_in_the_organisations_timezone_worded_per_language() -> None:
    moment = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert language("ja").datetime(moment, "Asia/Tokyo") == "2026年12月1日 09:00"
    assert language("en").datetime(moment, "Asia/Tokyo") == "1 Dec 2026 09:00"
    assert language("en").datetime(moment, "Europe/London") == "1 Dec 2026 00:00"


def test_organization_language_is_ja_or_en_with_file_and_line(tmp_path: Path) -> None:
    directory = write_repo(tmp_path / "repo")
    organization = directory / "organization.yaml"
    text = organization.read_text()
    organization.write_text(
        text.replace("timezone: Asia/Tokyo\n", "timezone: Asia/Tokyo\nlanguage: fr\n")
    )
    try:
        load_desired_dir(directory)
    except ValidationFailed as exc:
        message = str(exc)
    else:
        raise AssertionError("language: fr was accepted")
    assert "organization.yaml:4" in message and "language" in message and "'ja'" in message
    organization.write_text(
        text.replace("timezone: Asia/Tokyo\n", "timezone: Asia/Tokyo\nlanguage: ja\n")
    )
    assert load_desired_dir(directory).organization.language == "ja"
