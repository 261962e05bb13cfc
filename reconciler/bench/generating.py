"""Generate realistic large desired-state repos in memory, for the benchmarks (`python -m
reconciler.bench`) and their smoke test.

The repo is built on the example's `organization.yaml` and `roles.yaml` (so the roles are the
real ones), with N invented people: the CEO and the security officer first, then engineers,
designers, sales, customer success, back office and contractors in fixed proportions, a few
leavers (last day this week), future hires, time-boxed prod-debug grants and recovery
addresses. Larger organisations get more units, in the proportions of a real company (at
1,000 people about 150 Google groups, 55 GitHub teams, 20 GCP projects; at 10,000 about
1,500, 500 and 200, with about 60,000 group memberships): engineers are spread over
`squad-NNN` roles (a Google group and a GitHub team each, about 11 engineers, each squad
working in one generated GCP project), everyone else over `office-NNN` groups of about 10,
every project has its `project-NNN` group, everyone joins two or three `club-NNN` mailing
lists, and there is one GCP service account per 20 people. Everything is deterministic (no
clock, no randomness): the same N and `today` give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from reconciler.desired.loading import ORGANIZATION, ROLES, load_desired_state
from reconciler.model import DesiredState

EXAMPLE_REPO = Path(__file__).resolve().parents[2] / "desired_state"
PEOPLE_PER_SQUAD = 20  # one squad (a GitHub team and a Google group) per 20 people
OFFICE_SIZE = 10  # other staff per office group
PEOPLE_PER_PROJECT = 50  # GCP projects in scope, the example's three included
PEOPLE_PER_CLUB = 30  # opt-in mailing lists (`club-NNN@`), two or three per person
PEOPLE_PER_SERVICE_ACCOUNT = 20
PROJECTS = ("example-dev", "example-stg", "example-prod")  # the example's GCP projects

# Invented names (family name first, as written in Japanese) with their romanisation.
FAMILY = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"),
    ("山崎", "yamazaki"), ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"),
    ("阿部", "abe"), ("石川", "ishikawa"), ("前田", "maeda"), ("藤田", "fujita"),
    ("岡田", "okada"), ("後藤", "goto"), ("長谷川", "hasegawa"),
)  # fmt: skip
GIVEN = (
    ("太郎", "taro"), ("花子", "hanako"), ("翔", "sho"), ("陽菜", "hina"), ("大輔", "daisuke"),
    ("結衣", "yui"), ("蓮", "ren"), ("美咲", "misaki"), ("健", "ken"), ("直美", "naomi"),
    ("誠", "makoto"), ("萌", "moe"), ("翼", "tsubasa"), ("葵", "aoi"), ("拓海", "takumi"),
    ("さくら", "sakura"), ("悠斗", "yuto"), ("彩", "aya"), ("剛", "tsuyoshi"), ("優子", "yuko"),
    ("一郎", "ichiro"), ("真司", "shinji"), ("恵", "megumi"), ("颯太", "sota"),
    ("七海", "nanami"), ("陸", "riku"), ("愛", "ai"), ("亮", "ryo"), ("千尋", "chihiro"),
)  # fmt: skip

# (role, share of the staff, needs a GitHub login, department, title). The shares follow a
# typical 1,000-person SaaS company; they need not sum to 1 (the last kind takes the rest).
KINDS = (
    ("engineer-backend", 0.28, True, "技術部", "バックエンドエンジニア"),
    ("engineer-frontend", 0.14, True, "技術部", "フロントエンドエンジニア"),
    ("sre", 0.05, True, "技術部", "SRE"),
    ("designer", 0.05, True, "デザイン部", "デザイナー"),
    ("contractor-dev", 0.05, True, "技術部", "業務委託エンジニア"),
    ("sales", 0.17, False, "営業部", "営業"),
    ("customer-success", 0.16, False, "カスタマーサクセス部", "カスタマーサクセス"),
    ("corporate", 0.08, False, "管理部", "人事・総務・経理"),
    ("director-audit", 0.02, False, "内部監査室", "内部監査"),
)
ENGINEERING = frozenset(k[0] for k in KINDS if k[2])


def _kinds(staff: int) -> list[tuple[str, bool, str, str]]:
    counts = dict.fromkeys((k[0] for k in KINDS), 0)
    out = []
    for i in range(staff):
        chosen = max(KINDS, key=lambda k: k[1] * (i + 1) - counts[k[0]])
        counts[chosen[0]] += 1
        out.append((chosen[0], chosen[2], chosen[3], chosen[4]))
    return out


def _yaml_dump(data: Any) -> bytes:
    yaml = YAML()  # round-trip mode keeps the example's comments
    yaml.width = 100
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue().encode()


def _name(i: int) -> tuple[str, str, str]:
    """(kanji name, romanised "given.family", GitHub-style "gfamily") for person i; the
    pairs repeat after len(FAMILY) * len(GIVEN) people, so a serial number keeps them unique."""
    family, family_r = FAMILY[i % len(FAMILY)]
    given, given_r = GIVEN[(i // len(FAMILY)) % len(GIVEN)]
    return f"{family} {given}", f"{given_r}.{family_r}", f"{given_r[0]}{family_r}"


def _person_yaml(fields: Mapping[str, str]) -> bytes:
    """One people/*.yaml file in the example's style (flow mappings, one key a line)."""
    lines = ["# Generated by reconciler.bench: an invented person."]
    lines += [f"{key}: {value}" for key, value in fields.items()]
    return ("\n".join(lines) + "\n").encode()


def generate_repo(people: int, today: dt.date, *, base: Path = EXAMPLE_REPO) -> dict[str, bytes]:
    """{path: bytes} of a desired-state repo with `people` people, valid on `today`.

    `base` holds the organization.yaml and roles.yaml to start from (the example repo)."""
    if people < 2:
        raise ValueError("a generated organisation needs at least the CEO and the officer")
    staff = _kinds(people - 2)
    engineers = sum(1 for k in staff if k[0] in ENGINEERING)
    squads = max(1, round(people / PEOPLE_PER_SQUAD))
    offices = max(1, round((len(staff) - engineers) / OFFICE_SIZE))
    projects = [f"gen-{p:03d}" for p in range(1, people // PEOPLE_PER_PROJECT - len(PROJECTS) + 1)]
    clubs = max(1, round(people / PEOPLE_PER_CLUB))

    # The example's role owners are the example's people, who are not in a generated repo.
    roles_text = re.sub(
        r"^  owner: .*\n", "", (base / ROLES).read_text(encoding="utf-8"), flags=re.M
    )
    extra_roles = ["", "# Generated by reconciler.bench: unit roles (squads, offices, clubs)."]
    for s in range(1, squads + 1):
        groups = f"{{group: squad-{s:03d}@example.co.jp, role: MEMBER}}"
        gcp = ""
        if projects:  # each squad works in one generated project, with its project group
            project = projects[(s - 1) % len(projects)]
            groups += f", {{group: project-{project[4:]}@example.co.jp, role: MEMBER}}"
            gcp = f"  gcp: [{{resource: projects/{project}, role: roles/editor}}]"
        extra_roles += [
            f"squad-{s:03d}:",
            f"  description: Engineering squad {s:03d}",
            f"  google_groups: [{groups}]",
            f"  github: {{org_role: member, teams: [{{team: squad-{s:03d}, role: member}}]}}",
            *([gcp] if gcp else []),
        ]
    for o in range(1, offices + 1):
        extra_roles += [
            f"office-{o:03d}:",
            f"  description: Business office {o:03d}",
            f"  google_groups: [{{group: office-{o:03d}@example.co.jp, role: MEMBER}}]",
        ]
    for c in range(1, clubs + 1):
        extra_roles += [
            f"club-{c:03d}:",
            f"  description: Mailing list {c:03d} (opt-in)",
            f"  google_groups: [{{group: club-{c:03d}@example.co.jp, role: MEMBER}}]",
        ]
    files: dict[str, bytes] = {ROLES: (roles_text + "\n".join(extra_roles) + "\n").encode()}

    ids = ["e00001", "e00002"]
    ids += [
        ("c" if kind[0] == "contractor-dev" else "e") + f"{i + 1:05d}"
        for i, kind in enumerate(staff, start=2)
    ]
    org = YAML().load((base / ORGANIZATION).read_text(encoding="utf-8"))
    org["security_officer"], org["chief_officer"] = "e00002", "e00001"
    for project in projects:
        org["systems"]["gcp"]["resources"].append(
            {"resource": f"projects/{project}", "environment": "dev", "mode": "additive"}
        )
    every_project = (*PROJECTS, *projects)
    sres = [pid for pid, kind in zip(ids[2:], staff, strict=True) if kind[0] == "sre"]
    for account in org.get("non_human_accounts") or []:
        if account.get("owner") not in ids:
            account["owner"] = "e00002"  # the example's owners may not exist at small N
    for n in range(1, people // PEOPLE_PER_SERVICE_ACCOUNT + 1):
        project = every_project[n % len(every_project)]
        org["non_human_accounts"].append(
            {
                "id": f"svc-{n:03d}",
                "system": "gcp",
                "identity": f"svc-{n:03d}@{project}.iam.gserviceaccount.com",
                "owner": sres[n % len(sres)] if sres else "e00002",
                "purpose": f"generated workload {n:03d}",
            }
        )
    files[ORGANIZATION] = _yaml_dump(org)

    founded = dt.date(2018, 4, 1)
    chiefs = (
        ("e00001", "executive, director-audit", "経営", "代表取締役CEO"),
        ("e00002", "security-officer, executive", "技術部", "取締役CTO"),
    )
    for i, (pid, role_list, dept, title) in enumerate(chiefs):
        name, romaji, login = _name(i)
        files[f"people/{pid}.yaml"] = _person_yaml(
            {
                "id": pid,
                "name": name,
                "email": f"{romaji}@example.co.jp",
                "github": f"{login}-{i + 1:04d}",
                "github_id": str(2_000_000 + i + 1),
                "department": dept,
                "title": title,
                "employment": f"{{type: director, start: {founded}}}",
                "roles": f"[{role_list}]",
            }
        )
    eng_seen = other_seen = ops_seen = 0
    for i, (pid, (role, github, dept, title)) in enumerate(
        zip(ids[2:], staff, strict=True), start=2
    ):
        name, romaji, login = _name(i)
        roles = [role]
        if role in ENGINEERING:
            roles.append(f"squad-{eng_seen % squads + 1:03d}")
            eng_seen += 1
        elif role != "director-audit":
            roles.append(f"office-{other_seen % offices + 1:03d}")
            other_seen += 1
        roles += [f"club-{(i * 7 + k * 13) % clubs + 1:03d}" for k in range(2 + i % 2)]
        roles = list(dict.fromkeys(roles))  # a tiny organisation has fewer clubs than picks
        start = founded + dt.timedelta(days=(i * 37) % 2900)
        employment = f"{{type: employee, start: {start}}}"
        if role == "contractor-dev":
            nda = start - dt.timedelta(days=10)
            end = today + dt.timedelta(days=30 + i % 300)
            employment = f"{{type: contractor, start: {start}, end: {end}, nda: {nda}}}"
        elif i % 67 == 5:  # ~1.5%: leavers whose last day was earlier this week
            employment = (
                f"{{type: employee, start: {start}, end: {today - dt.timedelta(days=i % 5)}}}"
            )
        elif i % 67 == 9:  # ~1.5%: future hires, starting within two months
            employment = f"{{type: employee, start: {today + dt.timedelta(days=7 + i % 50)}}}"
        fields = {
            "id": pid,
            "name": name,
            "email": f"{romaji}{i + 1:04d}@example.co.jp",
        }
        if github:
            fields["github"] = f"{login}-{i + 1:04d}"
            if i % 10:  # 1 in 10 engineers never had their numeric id recorded
                fields["github_id"] = str(2_000_000 + i + 1)
        if i % 4 == 0:
            fields["recovery_email"] = f"{romaji}{i + 1:04d}.home@example.com"
        fields |= {
            "department": dept,
            "title": title,
            "employment": employment,
            "roles": "[" + ", ".join(roles) + "]",
        }
        if role in ("engineer-backend", "sre"):
            ops_seen += 1
        if role in ("engineer-backend", "sre") and ops_seen % 40 == 2:  # 1 in 40 of them
            fields["grants"] = (
                f"\n  - {{role: prod-debug, approved_by: e00002, approved_on: "
                f"{today - dt.timedelta(days=3)}, expires: {today + dt.timedelta(days=11)}, "
                f'reason: "INC-{i:04d}: production incident"}}'
            )
        files[f"people/{pid}.yaml"] = _person_yaml(fields)
    return files


def generate_desired(people: int, today: dt.date, *, base: Path = EXAMPLE_REPO) -> DesiredState:
    """The generated repo, loaded and validated exactly like a real one."""
    return load_desired_state(generate_repo(people, today, base=base), commit=f"bench-{people}")
