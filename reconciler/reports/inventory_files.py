"""The files of the yearly inventory, rendered from an `Inventory` value as bytes: a CSV per
system and people.csv (UTF-8 with a BOM, so Excel opens Japanese text), inventory.xlsx (a sheet
per system and a summary), inventory.html (self-contained, with the policy checklist it
evidences), inventory.md, and manifest.json (every file's SHA-256). Called by `reconciler
inventory`, which writes them; nothing here touches the disk but the package's own template.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from reconciler.model import Message, System, msg
from reconciler.reports.i18n import NC_, Language, language
from reconciler.reports.inventory import Inventory

# (field, header): the field names are the keys of the rows; the header is the English msgid
# of the column's name in the catalogues, in the table's own context ("target" is 対象 here but
# 対象リソース in the drift report; "status" is 区分 for a grant, 状態 for a person).
GRANT_COLUMNS: tuple[tuple[str, tuple[str, str]], ...] = (
    ("kind", NC_("inventory grants column", "kind")),
    ("target", NC_("inventory grants column", "target")),
    ("principal", NC_("inventory grants column", "principal")),
    ("role", NC_("inventory grants column", "role")),
    ("status", NC_("inventory grants column", "status")),
    ("person_id", NC_("inventory grants column", "person id")),
    ("person_name", NC_("inventory grants column", "name")),
    ("owner", NC_("inventory grants column", "owner (non-human)")),
    ("via", NC_("inventory grants column", "via groups")),
    ("source", NC_("inventory grants column", "granted by (role / grant)")),
    ("approver", NC_("inventory grants column", "approver")),
    ("approved_on", NC_("inventory grants column", "approved on")),
    ("expires", NC_("inventory grants column", "expires")),
    ("two_factor", NC_("inventory grants column", "2SV / 2FA")),
    ("last_login", NC_("inventory grants column", "last login")),
    ("privileged", NC_("inventory grants column", "privileged")),
    ("commit", NC_("inventory grants column", "commit")),
    ("author", NC_("inventory grants column", "author")),
    ("decision", NC_("inventory grants column", "review decision")),
    ("note", NC_("inventory grants column", "note")),
)
PEOPLE_COLUMNS: tuple[tuple[str, tuple[str, str]], ...] = (
    ("id", NC_("inventory people column", "id")),
    ("name", NC_("inventory people column", "name")),
    ("email", NC_("inventory people column", "email")),
    ("github", NC_("inventory people column", "GitHub")),
    ("type", NC_("inventory people column", "employment")),
    ("department", NC_("inventory people column", "department")),
    ("title", NC_("inventory people column", "title")),
    ("start", NC_("inventory people column", "start")),
    ("end", NC_("inventory people column", "last day")),
    ("status", NC_("inventory people column", "status")),
    ("manager", NC_("inventory people column", "manager")),
    ("nda", NC_("inventory people column", "NDA signed")),
    ("training", NC_("inventory people column", "security training")),
    ("training_overdue", NC_("inventory people column", "training overdue")),
)
REVIEW_COLUMNS: tuple[tuple[str, tuple[str, str]], ...] = (
    ("reviewer", NC_("inventory review column", "reviewer")),
    ("person_id", NC_("inventory review column", "person id")),
    ("system", NC_("inventory review column", "system")),
    ("kind", NC_("inventory review column", "kind")),
    ("target", NC_("inventory review column", "target")),
    ("role", NC_("inventory review column", "role")),
    ("decision", NC_("inventory review column", "decision")),
    ("comment", NC_("inventory review column", "comment")),
    ("file", NC_("inventory review column", "decided in")),
    ("done", NC_("inventory review column", "carried out (audit run #seq)")),
)
SYSTEM_FILES = {System.GOOGLE: "google", System.GITHUB: "github", System.GCP: "gcp"}
Columns = Sequence[tuple[str, tuple[str, str]]]


def headers(columns: Columns, lang: Language) -> list[str]:
    return [lang.pgettext(*header) for _, header in columns]


def _cell(value: Any, lang: Language, timezone: str) -> Any:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, System):
        return value.value
    if isinstance(value, Message):
        return lang.render(value, timezone)
    if value is None:
        return ""
    return value


def _table(
    inv: Inventory, rows: Sequence[Any], columns: Columns, lang: Language
) -> list[list[Any]]:
    names = [name for name, _ in columns]
    return [[_cell(getattr(r, name), lang, inv.timezone) for name in names] for r in rows]


def render_csv(header: list[str], body: list[list[Any]]) -> bytes:
    """UTF-8 with a byte order mark: Excel otherwise reads Japanese as mojibake."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue().encode("utf-8-sig")


@dataclass(frozen=True)
class Check:
    """One policy article the inventory gives evidence for, worded in the report's language."""

    article: str
    what: str
    evidence: str
    met: bool


def checklist(inv: Inventory, lang: Language) -> list[Check]:
    """The articles this inventory evidences, each with the numbers that show it."""
    _ = lang.gettext
    active = [p for p in inv.people if p.status == "active"]
    contractors = [p for p in active if p.type == "contractor"]
    with_nda = [p for p in contractors if p.nda]
    trained = [p for p in active if not p.training_overdue]
    extra = [r for r in inv.rows if r.source.startswith("grant: ")]
    approved = [r for r in extra if r.approver and r.approved_on]
    unmatched = [r for r in inv.rows if r.status in ("unmanaged", "orphaned")]
    decided = [r for r in inv.reviews if r.decision != "pending"]
    revokes = [r for r in inv.reviews if r.decision == "revoke"]
    done = [r for r in revokes if r.done]

    def evidence(message: Message) -> str:
        return lang.render(message, inv.timezone)

    return [
        Check(
            "第5.2条2",
            _("inventory of access rights"),
            evidence(
                msg(
                    "%(rows)s accounts and grants, %(unmatched)s unmanaged or orphaned",
                    rows=len(inv.rows),
                    unmatched=len(unmatched),
                )
            ),
            not inv.incomplete,
        ),
        Check(
            "第9.1条",
            _("checklist audit"),
            _("manifest.json: SHA-256 of every file and the audit log head"),
            True,
        ),
        Check(
            "第9.2条",
            _("corrective action on the audit's results"),
            evidence(
                msg(
                    "review: %(decided)s/%(reviews)s decided, %(done)s/%(revokes)s revocations"
                    " carried out",
                    decided=len(decided),
                    reviews=len(inv.reviews),
                    done=len(done),
                    revokes=len(revokes),
                )
            ),
            bool(inv.reviews) and len(decided) == len(inv.reviews) and len(done) == len(revokes),
        ),
        Check(
            "第5.2条1",
            _("prior approval of grants"),
            evidence(
                msg(
                    "%(approved)s/%(extra)s extra grants with approver and date",
                    approved=len(approved),
                    extra=len(extra),
                )
            ),
            len(approved) == len(extra),
        ),
        Check(
            "第6.1条",
            _("contractors' NDAs"),
            evidence(
                msg(
                    "%(signed)s/%(contractors)s contractors signed an NDA",
                    signed=len(with_nda),
                    contractors=len(contractors),
                )
            ),
            len(with_nda) == len(contractors),
        ),
        Check(
            "第11.1条",
            _("yearly security training"),
            evidence(
                msg(
                    "%(trained)s/%(active)s active people trained within a year",
                    trained=len(trained),
                    active=len(active),
                )
            ),
            len(trained) == len(active),
        ),
    ]


def _summary(inv: Inventory, lang: Language) -> list[tuple[str, str]]:
    _ = lang.gettext
    lines = [
        (_("made at"), inv.made_at.isoformat()),
        (_("state fingerprint"), inv.state_fingerprint),
        (_("desired-state commit"), inv.desired_commit or ""),
        (_("incomplete reads"), ", ".join(s.value for s in inv.incomplete)),
    ]
    for system in SYSTEM_FILES:
        rows = lang.render(msg("%(system)s rows", system=system.value), inv.timezone)
        lines.append((rows, str(len(inv.of(system)))))
    for status in ("active", "orphaned", "unmanaged", "external", "non-human", "protected"):
        lines.append((status, str(inv.count(status))))
    return lines


def _sheets(inv: Inventory, lang: Language) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(name, header, rows) of every table: one per system, people and review."""
    _ = lang.gettext
    tables: list[tuple[str, Sequence[Any], Columns]] = [
        (SYSTEM_FILES[s], inv.of(s), GRANT_COLUMNS) for s in SYSTEM_FILES
    ]
    tables += [
        (_("people"), inv.people, PEOPLE_COLUMNS),
        (_("review"), inv.reviews, REVIEW_COLUMNS),
    ]
    return [
        (name, headers(columns, lang), _table(inv, rows, columns, lang))
        for name, rows, columns in tables
    ]


def render_xlsx(inv: Inventory, lang: Language) -> bytes:
    """A summary sheet, one sheet per system, people and review; each with a bold frozen
    header, an autofilter and column widths that fit the text. Written in openpyxl's
    streaming (write-only) mode: a 10,000-people inventory has about 100,000 rows."""
    _ = lang.gettext
    book = Workbook(write_only=True)
    summary_rows: list[list[Any]] = [[_("Access inventory"), f"{inv.organization} {inv.year}"]]
    summary_rows += [[key, value] for key, value in _summary(inv, lang)]
    summary_rows += [[], [_("Policy checklist")]]
    summary_rows += [
        [c.article, c.what, c.evidence, _("met") if c.met else _("open")]
        for c in checklist(inv, lang)
    ]
    summary = book.create_sheet(_("summary"))
    _fit(summary, summary_rows)
    for row in summary_rows:
        summary.append(row)
    for title, header, body in _sheets(inv, lang):
        sheet = book.create_sheet(title)
        _fit(sheet, [header, *body])
        sheet.freeze_panes = "A2"
        last = f"{get_column_letter(len(header))}{len(body) + 1}"
        sheet.auto_filter.ref = f"A1:{last}"
        bold = []
        for value in header:
            cell = WriteOnlyCell(sheet, value=value)
            cell.font = Font(bold=True)
            bold.append(cell)
        sheet.append(bold)
        for row in body:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fit(sheet: Any, rows: Sequence[Sequence[Any]]) -> None:
    """Column widths from the longest text in each column (set before any row is written,
    as streaming mode requires)."""
    widths: dict[int, int] = {}
    for row in rows:
        for column, value in enumerate(row, start=1):
            text_value = "" if value is None else str(value)
            # Full-width characters take about two columns.
            width = len(text_value) + sum(1 for ch in text_value if ord(ch) > 0x2E80)
            if width > widths.get(column, 0):
                widths[column] = width
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 8), 60)


@cache
def _environment(lang: Language) -> Environment:
    """One environment per language (gettext is bound to an environment, so a process
    rendering both languages, the daemon, never mixes them)."""
    env = Environment(
        loader=PackageLoader("reconciler.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        extensions=["jinja2.ext.i18n"],
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
    return env


def render_html(inv: Inventory, lang: Language) -> str:
    """Self-contained (inline style, no script, no external asset): it is archived as audit
    evidence and must open the same way in ten years."""
    *systems, people, reviews = _sheets(inv, lang)
    return (
        _environment(lang)
        .get_template("inventory.html.j2")
        .render(
            inv=inv,
            lang=lang.code,
            summary=_summary(inv, lang),
            checks=checklist(inv, lang),
            systems=systems,
            people=people[1:],
            reviews=reviews[1:],
        )
    )


def render_markdown(inv: Inventory, lang: Language) -> str:
    """The summary, the checklist and the rows that need a human (not active people's)."""
    _ = lang.gettext
    lines = [f"# {_('Access inventory')}: {inv.organization} {inv.year}", ""]
    lines += [f"- {key}: {value}" for key, value in _summary(inv, lang)]
    lines += ["", f"## {_('Policy checklist')}", ""]
    for c in checklist(inv, lang):
        mark = "x" if c.met else " "
        lines.append(f"- [{mark}] {c.article} {c.what}: {c.evidence}")
    attention = [r for r in inv.rows if r.status not in ("active", "group")]
    if attention:
        lines += ["", "## " + _("Needs attention"), ""]
        cols = ("kind", "target", "principal", "role", "status", "owner", "note")
        lines.append("| system | " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * (len(cols) + 1))
        for r in attention:
            values = [
                r.system.value,
                *(str(_cell(getattr(r, c), lang, inv.timezone)) for c in cols),
            ]
            lines.append("| " + " | ".join(v.replace("|", "\\|") for v in values) + " |")
    return "\n".join(lines) + "\n"


def inventory_files(inv: Inventory, lang: str) -> dict[str, bytes]:
    """Every file of the inventory by name (the manifest aside), in the language `lang`
    (ja or en)."""
    words = language(lang)
    *systems, people, reviews = _sheets(inv, words)
    files: dict[str, bytes] = {}
    for name, header, body in systems:  # each system's sheet is named as its file
        files[f"{name}.csv"] = render_csv(header, body)
    files["people.csv"] = render_csv(people[1], people[2])
    files["review.csv"] = render_csv(reviews[1], reviews[2])
    files["inventory.xlsx"] = render_xlsx(inv, words)
    files["inventory.html"] = render_html(inv, words).encode("utf-8")
    files["inventory.md"] = render_markdown(inv, words).encode("utf-8")
    return files


def render_manifest(
    files: Mapping[str, bytes], inv: Inventory, audit_head: Mapping[str, Any] | None
) -> bytes:
    """manifest.json: what an auditor checks the archived files against."""
    manifest = {
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "state_fingerprint": inv.state_fingerprint,
        "audit_head": dict(audit_head) if audit_head is not None else None,
        "desired_commit": inv.desired_commit,
        "year": inv.year,
        "made_at": inv.made_at.isoformat(),
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
