"""Renders the finding catalogue (`reconciler.policy.catalogue`) as the Markdown page
docs/findings.md and as JSON; called by `reconciler findings`.

The page is generated, never edited by hand, so the documentation says exactly what the
checks do: a test regenerates it and fails when the committed file is stale.
"""

from __future__ import annotations

import json

from reconciler.policy.catalogue import CATALOGUE, FindingType

_INTRO = """\
Every plan and drift report lists **findings**: observations about the desired state and the
real systems, each naming the article of the information security policy it serves, so a
report doubles as audit evidence (第9.1条). Findings are produced by
`reconciler.policy.check_findings` and included in every `Plan`; they never change anything by
themselves. They are sorted by severity (critical, high, medium, low, info), then code, then
subject. How the planner decides what to change is in [planner.md](planner.md).

計画(プラン)と差分レポートには、**指摘事項**(finding)を記載します。指摘事項は、リポジトリに
記載された望ましい状態と各システムの実際の状態についての所見で、それぞれが根拠とする情報
セキュリティ規程の条項を示します。そのため、レポートはそのまま監査の証跡になります
(第9.1条)。指摘事項はそれ自体では何も変更しません。

Each code has one severity and one article, taken from the catalogue; where the policy rates a
case differently (a super admin without 2SV, 第12.5条), the case is listed under the code.
"""


def _md(text: str) -> str:
    """Table cells: a pipe would end the cell."""
    return text.replace("|", "\\|")


def _rating(entry: FindingType) -> str:
    text = entry.severity.value
    for v in entry.variants:
        text += f"; {v.severity.value} when {v.when_en}"
    return text


def _articles(entry: FindingType) -> str:
    return ", ".join(dict.fromkeys([entry.article, *(v.article for v in entry.variants)]))


def render_catalogue_markdown() -> str:
    """docs/findings.md: a summary table, then each code in English and Japanese."""
    items = list(CATALOGUE.values())
    lines = [
        "# Findings / 指摘事項",
        "",
        "<!-- Generated from reconciler/policy/catalogue.py by `make docs` "
        "(`reconciler findings --format markdown`). Edit the catalogue, not this file. -->",
        "",
        _INTRO,
        "## Codes / 一覧",
        "",
        "| code | severity | article | title | 表題 |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| [`{e.code}`](#{e.code}) | {_md(_rating(e))} | {_articles(e)} | "
        f"{_md(e.title_en)} | {_md(e.title_ja)} |"
        for e in items
    ]
    for e in items:
        lines += ["", f"## `{e.code}`", "", f"**{e.title_en}** / **{e.title_ja}**", ""]
        lines.append(f"Severity **{e.severity.value}**, policy {e.article}.")
        for v in e.variants:
            lines.append(
                f"Severity **{v.severity.value}**, {v.article}, when {v.when_en}. "
                f"{v.when_ja}は **{v.severity.value}**、{v.article}。"
            )
        lines += [
            "",
            f"- **What it means.** {e.explanation_en}",
            f"- **What to do.** {e.remediation_en}",
            f"- **内容。** {e.explanation_ja}",
            f"- **対応。** {e.remediation_ja}",
        ]
    return "\n".join(lines) + "\n"


def catalogue_document() -> list[dict[str, object]]:
    """The catalogue as plain data, for tools and for report renderers in other languages."""
    return [
        {
            "code": e.code,
            "severity": e.severity.value,
            "article": e.article,
            "title": {"en": e.title_en, "ja": e.title_ja},
            "explanation": {"en": e.explanation_en, "ja": e.explanation_ja},
            "remediation": {"en": e.remediation_en, "ja": e.remediation_ja},
            "variants": [
                {
                    "name": v.name,
                    "severity": v.severity.value,
                    "article": v.article,
                    "when": {"en": v.when_en, "ja": v.when_ja},
                }
                for v in e.variants
            ],
        }
        for e in CATALOGUE.values()
    ]


def render_catalogue_json() -> str:
    return json.dumps(catalogue_document(), ensure_ascii=False, indent=2) + "\n"
