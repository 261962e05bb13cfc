"""The yearly inventory and access review end to end: the real CLI (`inventory`, `review
start|status`, `validate`, `plan`, `apply --confirm`) against the sandbox through the real
client libraries, with the desired-state repo in a real git repository made by the test."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import yaml

from reconciler.desired.loading import load_desired_dir
from reconciler.sandbox.server import SandboxServer
from tests.e2e.scenario import (
    MOVER,
    STAYER,
    STAYER_EMAIL,
    audit_path,
    cli,
    cli_env,
    state,
    team_members,
    today,
    world_before,
    write_repo,
)

AUTHOR = "Aiko Editor <aiko.editor@example.co.jp>"
PROD = "projects/example-prod"
READERS = "prod-readers@example.co.jp"
ONCALL = "oncall@example.co.jp"


def _git(directory: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Aiko Editor",
        "GIT_AUTHOR_EMAIL": "aiko.editor@example.co.jp",
        "GIT_COMMITTER_NAME": "Aiko Editor",
        "GIT_COMMITTER_EMAIL": "aiko.editor@example.co.jp",
        "HOME": str(directory),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    done = subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def _grant_to_stayer_and_commit(directory: Path, role: str, reason: str) -> Path:
    """The stayer gets `role` through an approved grant that expires in 30 days, a manager
    and a recent training; the security officer (e0002) reports to the stayer; the repo is
    committed to a fresh git repository (the inventory's provenance comes from git blame)."""
    stayer = directory / "people" / f"{STAYER}.yaml"
    start, end = today() - timedelta(days=10), today() + timedelta(days=30)
    stayer.write_text(
        stayer.read_text(encoding="utf-8")
        + f"manager: {MOVER}\ntraining: {today() - timedelta(days=30)}\n"
        + f"grants:\n  - {{role: {role}, approved_by: e0002, approved_on: {start}, "
        + f'expires: {end}, reason: "{reason}"}}\n',
        encoding="utf-8",
    )
    officer = directory / "people" / "e0002.yaml"
    officer.write_text(
        officer.read_text(encoding="utf-8") + f"manager: {STAYER}\n", encoding="utf-8"
    )
    _git(directory, "init", "-q")
    _git(directory, "add", ".")
    _git(directory, "commit", "-qm", "the company")
    return directory


def _repo(tmp_path: Path) -> Path:
    """The scenario's repo with an approved extra grant for the stayer, a non-human GitHub
    account with an owner, the stayer's manager, committed to a fresh git repository."""
    directory = write_repo(tmp_path / "desired_state")
    org = directory / "organization.yaml"
    org.write_text(
        org.read_text(encoding="utf-8")
        + "non_human_accounts:\n"
        + "  - {id: ci-bot, system: github, identity: example-ci-bot, owner: e0002, "
        + "purpose: CI}\n",
        encoding="utf-8",
    )
    return _grant_to_stayer_and_commit(directory, "sre", "INC-1234 incident")


def _world(directory: Path) -> dict[str, Any]:
    world = world_before(load_desired_dir(directory))
    google = world["google"]
    user = dict(google["users"][-1])
    user.update(id="9990001", primaryEmail="temp.user@example.co.jp", isAdmin=False)
    user["name"] = {"givenName": "Temp", "familyName": "User", "fullName": "Temp User"}
    google["users"].append(user)  # nobody's: unmanaged
    google["members"]["eng@example.co.jp"].append(
        {"id": "9990002", "email": "partner.dev@example.com", "role": "MEMBER", "type": "USER",
         "status": "ACTIVE"}
    )  # fmt: skip
    google["groups"].append({"id": "9990003", "email": READERS, "name": "prod-readers"})
    google["members"][READERS] = [
        {"id": "9990004", "email": STAYER_EMAIL, "role": "MEMBER", "type": "USER",
         "status": "ACTIVE"},
        {"id": "9990005", "email": ONCALL, "role": "MEMBER", "type": "GROUP", "status": "ACTIVE"},
    ]  # fmt: skip
    google["groups"].append({"id": "9990006", "email": ONCALL, "name": "oncall"})
    google["members"][ONCALL] = [
        {"id": "9990007", "email": STAYER_EMAIL, "role": "MEMBER", "type": "USER",
         "status": "ACTIVE"}
    ]  # fmt: skip
    prod = next(r for r in world["gcp"]["resources"] if r["name"] == PROD)
    prod["policy"]["bindings"].append({"role": "roles/viewer", "members": [f"group:{READERS}"]})
    github = world["github"]
    github["users"].append(
        {"login": "example-ci-bot", "id": 777001, "name": "", "email": None,
         "two_factor": True, "previous_logins": []}
    )  # fmt: skip
    github["members"].append({"login": "example-ci-bot", "role": "member"})
    return world


def _csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name} has no UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def _row(rows: list[dict[str, str]], **wanted: str) -> dict[str, str]:
    (found,) = [r for r in rows if all(r[k] == v for k, v in wanted.items())]
    return found


def test_inventory_matches_every_account_and_grant_to_a_person_or_marks_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory = _repo(tmp_path)
    head = _git(directory, "rev-parse", "HEAD")
    sandbox.sandbox.load_world(_world(directory))
    out = tmp_path / "inventory"
    year = str(today().year)
    env = cli_env(sandbox, tmp_path)

    result = cli(
        ["inventory", "--year", year, "--out", str(out), "--dir", str(directory), "--lang", "en"],
        env,
    )

    assert result.exit_code == 0, result.output
    github = _csv(out / "github.csv")
    team = _row(github, kind="team", target="example-co/backend", principal="sstayer")
    assert (team["status"], team["person id"], team["granted by (role / grant)"]) == (
        "active",
        STAYER,
        "engineer",
    )
    assert (team["commit"], team["author"]) == (head, AUTHOR)
    assert team["2SV / 2FA"] == "yes"
    bot = _row(github, kind="org", principal="example-ci-bot")
    assert (bot["status"], bot["owner (non-human)"]) == ("non-human", "e0002")
    google = _csv(out / "google.csv")
    extra = _row(google, kind="group", target="sre@example.co.jp", principal=STAYER_EMAIL)
    assert extra["granted by (role / grant)"] == "grant: sre"
    assert (extra["approver"], extra["approved on"]) == (
        "e0002",
        str(today() - timedelta(days=10)),
    )
    assert extra["expires"] == str(today() + timedelta(days=30))
    assert (extra["commit"], extra["author"]) == (head, AUTHOR)
    stranger = _row(google, kind="account", principal="temp.user@example.co.jp")
    assert (stranger["status"], stranger["person id"]) == ("unmanaged", "")
    partner = _row(google, kind="group", principal="partner.dev@example.com")
    assert partner["status"] == "external"
    nested = _row(google, kind="group", target=READERS, principal=ONCALL)
    assert nested["status"] == "group"  # a nested group, not an unmanaged account
    held = _row(google, kind="group", target=READERS, principal=STAYER_EMAIL)
    assert held["note"] == "not granted by the repo"  # a row note, in the report's language
    gcp = _csv(out / "gcp.csv")
    wanted = {"target": PROD, "principal": f"user:{STAYER_EMAIL}", "role": "roles/viewer"}
    reach = _row(gcp, **wanted, **{"via groups": READERS})
    assert (reach["status"], reach["person id"]) == ("active", STAYER)
    direct = _row(gcp, **wanted, **{"via groups": ""})  # the sre grant binds it directly too
    assert direct["granted by (role / grant)"] == "grant: sre"
    people = _csv(out / "people.csv")
    assert _row(people, id=STAYER)["manager"] == MOVER
    assert _row(people, id="e0010")["training overdue"] == ""  # departed: not counted

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["year"] == int(year)
    assert sorted(manifest["files"]) == sorted(
        p.name for p in out.iterdir() if p.name != "manifest.json"
    )
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert len(manifest["state_fingerprint"]) == 64

    book = openpyxl.load_workbook(out / "inventory.xlsx", read_only=True)
    assert book.sheetnames == ["summary", "google", "github", "gcp", "people", "review"]
    sheet_rows = list(book["github"].iter_rows(values_only=True))
    assert sheet_rows[0][:5] == ("kind", "target", "principal", "role", "status")
    assert ("team", "example-co/backend", "sstayer", "member", "active") in [
        r[:5] for r in sheet_rows[1:]
    ]
    html = (out / "inventory.html").read_text(encoding="utf-8")
    assert "第5.2条2" in html and "第11.1条" in html and "<script" not in html

    # In Japanese: the same files with the Japanese headers, checklist and row notes.
    ja = tmp_path / "inventory-ja"
    args = ["inventory", "--year", year, "--out", str(ja), "--dir", str(directory), "--lang", "ja"]
    assert cli(args, env).exit_code == 0
    held_ja = _row(_csv(ja / "google.csv"), 種別="group", 対象=READERS, 主体=STAYER_EMAIL)
    assert (held_ja["区分"], held_ja["人員ID"]) == ("active", STAYER)
    assert held_ja["備考"] == "リポジトリに付与の記載なし"
    assert list(_csv(ja / "people.csv")[0])[:3] == ["人員ID", "氏名", "メール"]
    markdown = (ja / "inventory.md").read_text(encoding="utf-8")
    assert "## 規程チェックリスト" in markdown and "## 要確認" in markdown
    assert "件の権限" in markdown and "リポジトリに付与の記載なし" not in markdown  # active rows


def _decide(path: Path, decide: dict[tuple[str, str, str], str], default: str) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for item in data["grants"]:
        item["decision"] = decide.get((item["person"], item["kind"], item["target"]), default)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_review_cycle_revocation_is_planned_citing_the_review_applied_and_in_the_inventory(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory = _repo(tmp_path)
    sandbox.sandbox.load_world(_world(directory))
    env = cli_env(sandbox, tmp_path)
    year = str(today().year)

    started = cli(["review", "start", "--year", year, "--dir", str(directory)], env)
    assert started.exit_code == 0, started.output
    reviews = directory / "reviews" / year
    mine = reviews / f"{MOVER}.yaml"  # the stayer's manager reviews the stayer's grants
    listed = yaml.safe_load(mine.read_text(encoding="utf-8"))["grants"]
    assert {(g["person"], g["kind"], g["target"]) for g in listed} >= {
        (STAYER, "github_team", "example-co/backend")
    }
    assert all(g["decision"] is None for g in listed)
    again = cli(["review", "start", "--year", year, "--dir", str(directory)], env)
    assert again.exit_code == 1 and "already started" in again.output

    status = cli(["review", "status", "--year", year, "--dir", str(directory)], env)
    assert status.exit_code == 1 and "INCOMPLETE" in status.output
    _decide(mine, {(STAYER, "github_team", "example-co/backend"): "revoke"}, "keep")
    for other in reviews.iterdir():
        if other != mine:
            _decide(other, {}, "keep")
    status = cli(["review", "status", "--year", year, "--dir", str(directory)], env)
    assert status.exit_code == 0, status.output
    assert "complete" in status.output and "1 revoked" in status.output

    planned = cli(["plan", "--format", "json", "--dir", str(directory)], env)
    assert planned.exit_code == 2, planned.output
    plan = json.loads(planned.stdout)["plan"]
    (removal,) = [
        a
        for a in plan["actions"]
        if a["kind"] == "remove_team_member" and a["principal"] == "sstayer"
    ]
    params = dict(removal["params"])
    assert params["reviewer"] == MOVER
    assert params["review"].startswith(f"reviews/{year}/{MOVER}.yaml:")
    assert f"access review by {MOVER}" in removal["reason"]
    assert any("revoked it in" in n["message"] and n["person_id"] == STAYER for n in plan["notes"])

    applied = cli(["apply", "--confirm", "--dir", str(directory)], env)
    assert applied.exit_code in (0, 3), applied.output
    assert "sstayer" not in team_members(state(sandbox), "backend")
    records = [json.loads(line) for line in audit_path(tmp_path).read_text().splitlines()]
    (result,) = [
        r
        for r in records
        if r["type"] == "result" and dict(r["action"]["params"]).get("review") == params["review"]
    ]

    out = tmp_path / "inventory"
    made = cli(["inventory", "--year", year, "--out", str(out), "--dir", str(directory),
                "--lang", "en"], env)  # fmt: skip
    assert made.exit_code == 0, made.output
    review = _csv(out / "review.csv")
    done = _row(review, **{"person id": STAYER, "kind": "team", "target": "example-co/backend"})
    assert done["decision"] == "revoke"
    assert done["carried out (audit run #seq)"] == f"{result['run_id']} #{result['seq']}"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["audit_head"]["seq"] == records[-1]["seq"]
    kept = _row(review, **{"person id": STAYER, "kind": "group", "target": "eng@example.co.jp"})
    assert (kept["decision"], kept["carried out (audit run #seq)"]) == ("keep", "")


def _validate(directory: Path, env: dict[str, str]) -> list[str]:
    result = cli(["validate", str(directory)], env)
    assert result.exit_code == 1, result.output
    return [line for line in result.stdout.splitlines() if "reviews/" in line]


def test_validate_reports_bad_review_files_with_file_and_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory = _repo(tmp_path)
    env = cli_env(sandbox, tmp_path)
    year = today().year
    folder = directory / "reviews" / str(year)
    folder.mkdir(parents=True)
    item = (
        "  - {{person: {p}, kind: github_team, target: example-co/backend, role: member{rest}}}\n"
    )
    (folder / f"{MOVER}.yaml").write_text(
        f"year: {year}\nreviewer: {MOVER}\ngrants:\n"
        + item.format(p=STAYER, rest=", decision: maybe")
        + item.format(p=STAYER, rest=""),
        encoding="utf-8",
    )
    errors = _validate(directory, env)
    assert any(f"reviews/{year}/{MOVER}.yaml:4:" in e and "decision" in e for e in errors), errors
    assert any(
        f"reviews/{year}/{MOVER}.yaml:5:" in e and "required field is missing" in e for e in errors
    ), errors

    (folder / f"{MOVER}.yaml").write_text(
        f"year: {year}\nreviewer: {MOVER}\ngrants:\n"
        + item.format(p=MOVER, rest=", decision: keep")
        .replace("backend", "sre")
        .replace("member", "maintainer")
        + "  - {person: e0013, kind: github_team, target: example-co/nope, role: member, "
        + "decision: revoke}\n",
        encoding="utf-8",
    )
    errors = _validate(directory, env)
    assert any(
        f"reviews/{year}/{MOVER}.yaml:4:" in e and "decides on their own grant" in e for e in errors
    ), errors
    (folder / f"{MOVER}.yaml").write_text(
        f"year: {year}\nreviewer: {MOVER}\ngrants:\n"
        + "  - {person: e0013, kind: github_team, target: example-co/nope, role: member, "
        + "decision: revoke}\n",
        encoding="utf-8",
    )
    errors = _validate(directory, env)
    assert any(f"reviews/{year}/{MOVER}.yaml:4:" in e and "unknown grant" in e for e in errors), (
        errors
    )


def test_plan_reports_security_training_overdue_or_missing_for_active_people(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory = _repo(tmp_path)
    mover = directory / "people" / f"{MOVER}.yaml"
    mover.write_text(
        mover.read_text(encoding="utf-8") + f"training: {today() - timedelta(days=400)}\n",
        encoding="utf-8",
    )
    sandbox.sandbox.load_world(_world(directory))

    result = cli(["plan", "--format", "json", "--dir", str(directory)], cli_env(sandbox, tmp_path))

    plan = json.loads(result.stdout)["plan"]
    overdue = {
        f["person_id"]: f for f in plan["findings"] if f["code"] == "security-training-overdue"
    }
    assert (overdue[MOVER]["severity"], overdue[MOVER]["article"]) == ("medium", "第11.1条")
    assert str(today() - timedelta(days=400)) in overdue[MOVER]["message"]
    assert "never recorded" in overdue["e0002"]["message"]  # no training date in the file
    assert STAYER not in overdue  # trained 30 days ago
    assert "e0010" not in overdue  # the leaver has left: not asked to train


def _privileged_repo(tmp_path: Path) -> Path:
    """The stayer holds `owner`, a privileged role, through an approved grant that expires:
    Workspace super admin, GitHub org owner, maintainer of backend and owner of the eng
    group, on top of the engineer role's member grants. The security officer reviews
    privileged grants."""
    directory = write_repo(tmp_path / "desired_state")
    roles = directory / "roles.yaml"
    roles.write_text(
        roles.read_text(encoding="utf-8")
        + "owner:\n  privileged: true\n  google_admin: true\n"
        + "  google_groups: [{group: eng@example.co.jp, role: OWNER}]\n"
        + "  github: {org_role: admin, teams: [{team: backend, role: maintainer}]}\n",
        encoding="utf-8",
    )
    return _grant_to_stayer_and_commit(directory, "owner", "INC-2001 migration")


def test_a_review_lowering_a_privileged_role_cites_the_review_in_every_downgrade(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    directory = _privileged_repo(tmp_path)
    sandbox.sandbox.load_world(world_before(load_desired_dir(directory)))
    env = cli_env(sandbox, tmp_path)
    year = str(today().year)
    assert cli(["review", "start", "--year", year, "--dir", str(directory)], env).exit_code == 0
    revoked = {
        ("github_org", "example-co", "admin"),
        ("github_team", "example-co/backend", "maintainer"),
        ("google_group", "eng@example.co.jp", "OWNER"),
        ("google_account", "example.co.jp", "ADMIN"),
    }
    for path in (directory / "reviews" / year).iterdir():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for item in data["grants"]:
            mine = item["person"] == STAYER and (item["kind"], item["target"], item["role"])
            item["decision"] = "revoke" if mine in revoked else "keep"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    status = cli(["review", "status", "--year", year, "--dir", str(directory)], env)
    assert status.exit_code == 0 and "4 revoked" in status.output, status.output

    planned = cli(["plan", "--format", "json", "--dir", str(directory)], env)
    assert planned.exit_code == 2, planned.output
    plan = json.loads(planned.stdout)["plan"]
    downgrades = {
        a["kind"]: a for a in plan["actions"] if a.get("person_id") == STAYER
    }  # one each: the owner becomes a member, the maintainer a member, the group OWNER a MEMBER
    assert set(downgrades) == {"change_org_role", "change_team_role", "change_group_role"}
    reviewer_file = f"reviews/{year}/e0002.yaml:"
    for action in downgrades.values():
        params = dict(action["params"])
        assert params["reviewer"] == "e0002", action
        assert params["review"].startswith(reviewer_file), action
        assert "access review by e0002" in action["reason"], action
    assert dict(downgrades["change_org_role"]["params"])["old_role"] == "admin"
    assert downgrades["change_org_role"]["role"] == "member"
    # Super-admin status has no action: the plan says the revocation is still to be done.
    (admin,) = [n["message"] for n in plan["notes"] if "Workspace super admin" in n["message"]]
    assert f"revoked by e0002 in {reviewer_file}" in admin and "Admin console" in admin

    applied = cli(["apply", "--confirm", "--dir", str(directory)], env)
    assert applied.exit_code in (0, 3), applied.output
    members = {m["login"]: m["role"] for m in state(sandbox)["github"]["members"]}
    assert members["sstayer"] == "member"  # no longer an org owner
    records = [json.loads(line) for line in audit_path(tmp_path).read_text().splitlines()]
    results = {
        r["action"]["kind"]: r
        for r in records
        if r["type"] == "result" and r["result"]["ok"] and "review" in dict(r["action"]["params"])
    }
    assert set(results) == set(downgrades)

    out = tmp_path / "inventory"
    made = cli(["inventory", "--year", year, "--out", str(out), "--dir", str(directory),
                "--lang", "en"], env)  # fmt: skip
    assert made.exit_code == 0, made.output
    review = _csv(out / "review.csv")
    owner = _row(review, **{"person id": STAYER, "kind": "org", "target": "example-co",
                            "role": "admin"})  # fmt: skip
    assert owner["decision"] == "revoke"
    carried = results["change_org_role"]
    assert owner["carried out (audit run #seq)"] == f"{carried['run_id']} #{carried['seq']}"
