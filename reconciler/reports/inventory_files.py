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
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from reconciler.model import System
from reconciler.reports.inventory import Inventory

LANGS = ("ja", "en")

# (field, English header, Japanese header); the field names are the English CSV headers'
# source of truth and the keys of the JSON-like rows.
GRANT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("kind", "kind", "種別"),
    ("target", "target", "対象"),
    ("principal", "principal", "主体"),
    ("role", "role", "ロール"),
    ("status", "status", "区分"),
    ("person_id", "person id", "人員ID"),
    ("person_name", "name", "氏名"),
    ("owner", "owner (non-human)", "所有者(非人間)"),
    ("via", "via groups", "経由グループ"),
    ("source", "granted by (role / grant)", "付与根拠(ロール/個別付与)"),
    ("approver", "approver", "承認者"),
    ("approved_on", "approved on", "承認日"),
    ("expires", "expires", "有効期限"),
    ("two_factor", "2SV / 2FA", "2段階認証"),
    ("last_login", "last login", "最終ログイン"),
    ("privileged", "privileged", "特権"),
    ("commit", "commit", "コミット"),
    ("author", "author", "変更者"),
    ("decision", "review decision", "棚卸の判定"),
    ("note", "note", "備考"),
)
PEOPLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "id", "人員ID"),
    ("name", "name", "氏名"),
    ("email", "email", "メール"),
    ("github", "GitHub", "GitHub"),
    ("type", "employment", "雇用区分"),
    ("department", "department", "部署"),
    ("title", "title", "役職"),
    ("start", "start", "開始日"),
    ("end", "last day", "最終日"),
    ("status", "status", "状態"),
    ("manager", "manager", "上長"),
    ("nda", "NDA signed", "NDA締結日"),
    ("training", "security training", "セキュリティ教育受講日"),
    ("training_overdue", "training overdue", "教育期限切れ"),
)
REVIEW_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("reviewer", "reviewer", "レビュー者"),
    ("person_id", "person id", "人員ID"),
    ("system", "system", "システム"),
    ("kind", "kind", "種別"),
    ("target", "target", "対象"),
    ("role", "role", "ロール"),
    ("decision", "decision", "判定"),
    ("comment", "comment", "コメント"),
    ("file", "decided in", "判定の記録"),
    ("done", "carried out (audit run #seq)", "実施記録(監査ログ run #seq)"),
)
SYSTEM_FILES = {System.GOOGLE: "google", System.GITHUB: "github", System.GCP: "gcp"}

_TEXT = {
    "title": ("Access inventory", "アクセス権限棚卸"),
    "summary": ("summary", "概要"),
    "people": ("people", "人員"),
    "review": ("review", "棚卸レビュー"),
    "made_at": ("made at", "作成日時"),
    "fingerprint": ("state fingerprint", "状態フィンガープリント"),
    "commit": ("desired-state commit", "desired-state のコミット"),
    "incomplete": ("incomplete reads", "不完全な読み取り"),
    "rows": ("rows", "行数"),
    "checklist": ("Policy checklist", "規程チェックリスト"),
    "met": ("met", "充足"),
    "open": ("open", "未充足"),
}


def text(key: str, lang: str) -> str:
    en, ja = _TEXT[key]
    return ja if lang == "ja" else en


def headers(columns: Sequence[tuple[str, str, str]], lang: str) -> list[str]:
    return [ja if lang == "ja" else en for _, en, ja in columns]


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, System):
        return value.value
    return value


def _table(rows: Sequence[Any], columns: Sequence[tuple[str, str, str]]) -> list[list[Any]]:
    names = [name for name, _, _ in columns]
    return [[_cell(getattr(r, name)) for name in names] for r in rows]


def render_csv(header: list[str], body: list[list[Any]]) -> bytes:
    """UTF-8 with a byte order mark: Excel otherwise reads Japanese as mojibake."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue().encode("utf-8-sig")


@dataclass(frozen=True)
class Check:
    """One policy article the inventory gives evidence for."""

    article: str
    what: str
    evidence: str
    met: bool


def checklist(inv: Inventory, lang: str) -> list[Check]:
    """The articles this inventory evidences, each with the numbers that show it."""
    ja = lang == "ja"
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
    rows = len(inv.rows)
    return [
        Check(
            "第5.2条2",
            "アクセス権限の棚卸" if ja else "inventory of access rights",
            f"{rows} 件の権限、{len(unmatched)} 件が未管理・退職者"
            if ja
            else f"{rows} accounts and grants, {len(unmatched)} unmanaged or orphaned",
            not inv.incomplete,
        ),
        Check(
            "第9.1条",
            "チェックリストによる監査" if ja else "checklist audit",
            "manifest.json に各ファイルの SHA-256 と監査ログの先頭"
            if ja
            else "manifest.json: SHA-256 of every file and the audit log head",
            True,
        ),
        Check(
            "第9.2条",
            "監査結果に基づく是正" if ja else "corrective action on the audit's results",
            f"棚卸レビュー {len(decided)}/{len(inv.reviews)} 件判定済み、取消 {len(done)}/"
            f"{len(revokes)} 件実施済み"
            if ja
            else f"review: {len(decided)}/{len(inv.reviews)} decided, {len(done)}/"
            f"{len(revokes)} revocations carried out",
            bool(inv.reviews) and len(decided) == len(inv.reviews) and len(done) == len(revokes),
        ),
        Check(
            "第5.2条1",
            "権限付与の事前承認" if ja else "prior approval of grants",
            f"個別付与 {len(approved)}/{len(extra)} 件に承認者と承認日"
            if ja
            else f"{len(approved)}/{len(extra)} extra grants with approver and date",
            len(approved) == len(extra),
        ),
        Check(
            "第6.1条",
            "業務委託者の NDA" if ja else "contractors' NDAs",
            f"{len(with_nda)}/{len(contractors)} 名が NDA 締結済み"
            if ja
            else f"{len(with_nda)}/{len(contractors)} contractors signed an NDA",
            len(with_nda) == len(contractors),
        ),
        Check(
            "第11.1条",
            "年次のセキュリティ教育" if ja else "yearly security training",
            f"{len(trained)}/{len(active)} 名が1年以内に受講"
            if ja
            else f"{len(trained)}/{len(active)} active people trained within a year",
            len(trained) == len(active),
        ),
    ]


def _summary(inv: Inventory, lang: str) -> list[tuple[str, str]]:
    lines = [
        (text("made_at", lang), inv.made_at.isoformat()),
        (text("fingerprint", lang), inv.state_fingerprint),
        (text("commit", lang), inv.desired_commit or ""),
        (text("incomplete", lang), ", ".join(s.value for s in inv.incomplete)),
    ]
    for system in SYSTEM_FILES:
        lines.append((f"{system.value} {text('rows', lang)}", str(len(inv.of(system)))))
    for status in ("active", "orphaned", "unmanaged", "external", "non-human", "protected"):
        lines.append((status, str(inv.count(status))))
    return lines


def render_xlsx(inv: Inventory, lang: str) -> bytes:
    """A summary sheet, one sheet per system, people and review; each with a bold frozen
    header, an autofilter and column widths that fit the text. Written in openpyxl's
    streaming (write-only) mode: a 10,000-people inventory has about 100,000 rows."""
    book = Workbook(write_only=True)
    summary_rows: list[list[Any]] = [[text("title", lang), f"{inv.organization} {inv.year}"]]
    summary_rows += [[key, value] for key, value in _summary(inv, lang)]
    summary_rows += [[], [text("checklist", lang)]]
    summary_rows += [
        [c.article, c.what, c.evidence, text("met" if c.met else "open", lang)]
        for c in checklist(inv, lang)
    ]
    summary = book.create_sheet(text("summary", lang))
    _fit(summary, summary_rows)
    for row in summary_rows:
        summary.append(row)
    sheets: list[tuple[str, list[str], list[list[Any]]]] = [
        (SYSTEM_FILES[s], headers(GRANT_COLUMNS, lang), _table(inv.of(s), GRANT_COLUMNS))
        for s in SYSTEM_FILES
    ]
    sheets.append(
        (text("people", lang), headers(PEOPLE_COLUMNS, lang), _table(inv.people, PEOPLE_COLUMNS))
    )
    sheets.append(
        (text("review", lang), headers(REVIEW_COLUMNS, lang), _table(inv.reviews, REVIEW_COLUMNS))
    )
    for title, header, body in sheets:
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


_ENV = Environment(
    loader=PackageLoader("reconciler.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    keep_trailing_newline=True,
)


def render_html(inv: Inventory, lang: str) -> str:
    """Self-contained (inline style, no script, no external asset): it is archived as audit
    evidence and must open the same way in ten years."""
    return _ENV.get_template("inventory.html.j2").render(
        inv=inv,
        lang=lang,
        t=lambda key: text(key, lang),
        summary=_summary(inv, lang),
        checks=checklist(inv, lang),
        systems=[
            (SYSTEM_FILES[s], headers(GRANT_COLUMNS, lang), _table(inv.of(s), GRANT_COLUMNS))
            for s in SYSTEM_FILES
        ],
        people=(headers(PEOPLE_COLUMNS, lang), _table(inv.people, PEOPLE_COLUMNS)),
        reviews=(headers(REVIEW_COLUMNS, lang), _table(inv.reviews, REVIEW_COLUMNS)),
    )


def render_markdown(inv: Inventory, lang: str) -> str:
    """The summary, the checklist and the rows that need a human (not active people's)."""
    lines = [f"# {text('title', lang)}: {inv.organization} {inv.year}", ""]
    lines += [f"- {key}: {value}" for key, value in _summary(inv, lang)]
    lines += ["", f"## {text('checklist', lang)}", ""]
    for c in checklist(inv, lang):
        mark = "x" if c.met else " "
        lines.append(f"- [{mark}] {c.article} {c.what}: {c.evidence}")
    attention = [r for r in inv.rows if r.status not in ("active", "group")]
    if attention:
        lines += ["", "## " + ("要確認" if lang == "ja" else "Needs attention"), ""]
        cols = ("kind", "target", "principal", "role", "status", "owner", "note")
        lines.append("| system | " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * (len(cols) + 1))
        for r in attention:
            values = [r.system.value, *(str(getattr(r, c)) for c in cols)]
            lines.append("| " + " | ".join(v.replace("|", "\\|") for v in values) + " |")
    return "\n".join(lines) + "\n"


def inventory_files(inv: Inventory, lang: str) -> dict[str, bytes]:
    """Every file of the inventory by name (the manifest aside)."""
    files: dict[str, bytes] = {}
    for system, name in SYSTEM_FILES.items():
        files[f"{name}.csv"] = render_csv(
            headers(GRANT_COLUMNS, lang), _table(inv.of(system), GRANT_COLUMNS)
        )
    files["people.csv"] = render_csv(
        headers(PEOPLE_COLUMNS, lang), _table(inv.people, PEOPLE_COLUMNS)
    )
    files["review.csv"] = render_csv(
        headers(REVIEW_COLUMNS, lang), _table(inv.reviews, REVIEW_COLUMNS)
    )
    files["inventory.xlsx"] = render_xlsx(inv, lang)
    files["inventory.html"] = render_html(inv, lang).encode("utf-8")
    files["inventory.md"] = render_markdown(inv, lang).encode("utf-8")
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
