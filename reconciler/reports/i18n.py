"""The languages of plans and reports (ja, en): gettext catalogues, dates in the organisation's
timezone, catalogue texts; used by every renderer in `reconciler.reports` and by the CLI to
resolve `--lang` against organization.yaml's `language`.

The catalogues are `reconciler/locale/<lang>/LC_MESSAGES/reconciler.po`, compiled in memory
with Babel the first time a language is used: there is no .mo file to build or to forget to
rebuild on a fresh clone, and a test checks that every message the renderers use has a
Japanese translation. Messages are English (the msgid); the English catalogue only exists so
both languages go through the same path.

Reading the package's own catalogues is the only file access here; it never touches the
world, so the renderers stay pure functions of their inputs.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from reconciler.model import Finding, Message, Note
from reconciler.policy.catalogue import FindingType

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "en"
DOMAIN = "reconciler"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"


def catalogue_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@dataclass(frozen=True, eq=False)  # one value per language (cached): identity is equality
class Language:
    """One output language: its messages, its Babel locale and its half of the catalogue."""

    code: str
    translations: gettext.NullTranslations
    locale: Locale

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        """`message` as `context` words it: a short word ("target") can mean one thing in the
        inventory's columns and another in the drift report's."""
        return self.translations.pgettext(context, message)

    def datetime(self, moment: datetime, timezone: str) -> str:
        """`moment` in `timezone` (the organisation's), worded for this language. The Babel
        pattern is a message itself, so each language words it its own way (ja: 2026年12月1日
        09:00) without a branch on the language in code."""
        return format_datetime(
            moment,
            self.gettext("d MMM y HH:mm"),
            tzinfo=ZoneInfo(timezone),
            locale=self.locale,
        )

    def day(self, value: date) -> str:
        """A day worded for this language (ja: 2026年12月1日), as `datetime` words an instant."""
        return format_date(value, self.gettext("d MMM y"), locale=self.locale)

    def render(self, message: Message, timezone: str) -> str:
        """`message` in this language: instants in `timezone` (the organisation's) and days
        worded as `datetime` and `date` word them, lists joined this language's way."""

        def moment(value: date) -> str:
            if isinstance(value, datetime):
                return self.datetime(value, timezone)
            return self.day(value)

        return message.render(self.gettext, moment, self.gettext(", "))

    def words(self, item: Finding | Note, timezone: str) -> str:
        """A finding's or a plan note's words in this language (one made without a message,
        in a hand-made plan, keeps its English words)."""
        return self.render(item.words, timezone)

    def title(self, entry: FindingType) -> str:
        return str(getattr(entry, f"title_{self.code}"))

    def explanation(self, entry: FindingType) -> str:
        return str(getattr(entry, f"explanation_{self.code}"))

    def remediation(self, entry: FindingType) -> str:
        return str(getattr(entry, f"remediation_{self.code}"))


def NC_(context: str, message: str) -> tuple[str, str]:
    """`(context, message)`, marked for `make messages` (the extraction keyword `NC_:1c,2`):
    for a table of words defined once at import time and translated where it is shown, with
    `Language.pgettext(*words)`. The context travels with the words, so what is shown is
    what was extracted."""
    return context, message


@cache
def language(code: str) -> Language:
    """The language `code` (one of LANGUAGES), its catalogue compiled once per process. An
    unknown code is a programming error: the CLI and the desired-state schema only let the
    two through."""
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {code!r} (use one of {', '.join(LANGUAGES)})")
    with catalogue_path(code).open("rb") as po:
        catalog = read_po(po, locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Language(code, gettext.GNUTranslations(compiled), Locale.parse(code))


def resolve_language(option: str | None, organization_language: str | None) -> Language:
    """`--lang` if given, else organization.yaml's `language`, else English."""
    return language(option or organization_language or DEFAULT_LANGUAGE)
