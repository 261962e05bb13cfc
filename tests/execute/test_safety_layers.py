"""Each executor-side safety layer on its own (DESIGN 6, docs/safety.md): a hand-made plan the
planner would never produce must still be refused by `apply_plan` before any provider call,
every path by which a provider's text reaches the report or audit log is redacted, and a
saved plan whose content the format does not know is refused. Found by mutation testing:
each test fails when the one guard it names is removed. Providers are the in-memory
RecordingProvider (this tests the executor, not a provider)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from reconciler.audit import AuditLog, RecordType, read_records
from reconciler.execute import (
    MalformedPlan,
    StalePlan,
    parse_saved_plan,
    plan_to_json,
    verify_saved_plan,
)
from reconciler.log import REDACTED, configure_logging, get_logger, redact_text, register_secret
from reconciler.model import (
    Action,
    ActionKind,
    Binding,
    DesiredState,
    Grant,
    GrantKind,
    IamPolicy,
    Phase,
    ReadStatus,
    Snapshot,
    SnapshotPart,
    System,
    sha256_json,
)
from reconciler.providers.base import ActionResult, Provider
from reconciler.providers.reading import read_all
from tests.execute.recording_provider import RecordingProvider
from tests.execute.test_apply_plan import (
    DESIRED,
    LEAVER_ACTIONS,
    NEWCOMER_ACTIONS,
    NOW,
    Crash,
    CrashingProvider,
    _action,
    _plan,
    _providers,
    _run,
    _snapshot,
)

# Token-looking strings in the shapes the real systems issue (invented values).
GITHUB_PAT = "ghp_" + "Zx9Qw3" * 6  # 36 characters after the prefix
GOOGLE_ACCESS_TOKEN = "ya29.a0AfB_byExampleLeakedAccessToken-0123456789"


class CrashingWithToken(RecordingProvider):
    """A provider bug (not a ProviderError) whose message carries a credential."""

    def apply(self, action: Action) -> ActionResult:
        raise RuntimeError(f"client state dump: {GOOGLE_ACCESS_TOKEN} {GITHUB_PAT}")


class ChattyResult(RecordingProvider):
    """A provider that succeeds but echoes a credential in its result message."""

    def apply(self, action: Action) -> ActionResult:
        super().apply(action)
        return ActionResult(action.id, ok=True, changed=True, message=f"ok {GITHUB_PAT}")


def _leaks(text: str) -> list[str]:
    return [t for t in (GITHUB_PAT, GOOGLE_ACCESS_TOKEN) if t in text]


def test_a_provider_crash_carrying_a_token_is_redacted_in_the_report_and_audit_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    providers = {**_providers(), System.GCP: CrashingWithToken(System.GCP)}
    report = _run(_plan(*NEWCOMER_ACTIONS), providers, AuditLog(path))
    assert len(report.failures) == 1
    message = report.failures[0].message
    assert message.startswith("unexpected RuntimeError: client state dump")
    assert _leaks(message) == [] and REDACTED in message
    assert _leaks(path.read_text()) == []


def test_a_token_in_a_successful_results_message_is_redacted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    providers = {**_providers(), System.GOOGLE: ChattyResult(System.GOOGLE)}
    report = _run(_plan(*NEWCOMER_ACTIONS), providers, AuditLog(path))
    assert report.ok
    google = [o for o in report.outcomes if o.action.system is System.GOOGLE]
    assert google and all(o.message == f"ok {REDACTED}" for o in google)
    assert _leaks(path.read_text()) == []


@pytest.mark.parametrize(
    "secret",
    [
        GITHUB_PAT,
        "gho_" + "a" * 36,
        "ghs_" + "b1" * 18,
        "github_pat_11ABCDEFG0_" + "c" * 40,
        GOOGLE_ACCESS_TOKEN,
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
    ],
    ids=["github pat", "github oauth", "github app", "fine-grained pat", "google", "pem key"],
)
def test_each_credential_shape_is_redacted_on_its_own_without_a_keyword_before_it(
    secret: str,
) -> None:
    # No "token"/"Bearer" in front: the keyword rule must not be what catches it.
    text = f"403 from upstream: {secret} (request 42)"
    redacted = redact_text(text)
    assert secret not in redacted
    assert redacted == f"403 from upstream: {REDACTED} (request 42)"


def _removal(system: System, target: str, principal: str, role: str) -> Action:
    kind = {
        System.GOOGLE: ActionKind.REMOVE_GROUP_MEMBER,
        System.GITHUB: ActionKind.REMOVE_TEAM_MEMBER,
        System.GCP: ActionKind.REMOVE_BINDING,
    }[system]
    return _action(Phase.REMOVE, system, kind, target, principal, role)


def _with_gcp_owner(owner: str) -> Snapshot:
    parts = [p for s, p in _snapshot().parts.items() if s is not System.GCP]
    grant = Grant(GrantKind.GCP_BINDING, "projects/example-prod", owner, "roles/owner")
    parts.append(SnapshotPart(System.GCP, ReadStatus(System.GCP, complete=True), grants=(grant,)))
    return Snapshot.of(NOW, parts)


@pytest.mark.parametrize(
    ("name", "action", "snapshot", "reason"),
    [
        (
            "a removal on a system whose read was incomplete",
            _removal(System.GITHUB, "example/backend", "someone", "member"),
            _snapshot(incomplete=System.GITHUB),
            "RemovalOnIncompleteRead",
        ),
        (
            "an invitation on a system whose read was incomplete",
            _action(
                Phase.ADD, System.GITHUB, ActionKind.INVITE_ORG_MEMBER, "example", "dev", "member"
            ),
            _snapshot(incomplete=System.GITHUB),
            "ChangeOnIncompleteRead",
        ),
        (
            "removing the last owner of a GCP project",
            _removal(System.GCP, "projects/example-prod", "user:cto@example.co.jp", "roles/owner"),
            _with_gcp_owner("user:cto@example.co.jp"),
            "RemovesLastAdmin",
        ),
    ],
)
def test_the_executor_refuses_a_hand_made_unsafe_plan_before_any_call(
    tmp_path: Path, name: str, action: Action, snapshot: Snapshot, reason: str
) -> None:
    """The planner never makes these plans; the executor must refuse them anyway (a planner
    bug, or a saved plan made by something else)."""
    providers = _providers()
    path = tmp_path / "audit.jsonl"
    report = _run(
        _plan(*NEWCOMER_ACTIONS, action, snapshot=snapshot),
        providers,
        AuditLog(path),
        snapshot=snapshot,
    )
    assert report.exit_code == 2, name
    assert any(str(r).startswith(reason) for r in report.refused), report.refused
    assert all(p.calls == [] for p in providers.values()), name
    assert [r.type for r in read_records(path)] == ["run-start", "run-end"]


def test_a_saved_plan_with_content_the_format_does_not_know_is_refused_despite_its_checksum() -> (
    None
):
    """A field the loader would silently drop (here a note smuggled into the plan) changes
    what was reviewed; even with a checksum recomputed to match, the plan is refused."""
    data = json.loads(plan_to_json(_plan(*NEWCOMER_ACTIONS)))
    data["plan"]["reviewer_note"] = "approved, apply without looking"
    data["checksum"] = sha256_json(data["plan"])
    with pytest.raises(MalformedPlan, match="incompatible version"):
        parse_saved_plan(json.dumps(data))


def test_an_interrupted_offboarding_is_not_claimed_complete_on_an_incomplete_read(
    tmp_path: Path,
) -> None:
    """A run killed during a leaver's offboarding leaves intents without offboarding-complete.
    A later run whose plan no longer names the leaver records completion only when every
    system was read completely: grants a failed read did not show may still exist (6.2)."""
    path = tmp_path / "audit.jsonl"
    providers = _providers()
    crashing = CrashingProvider(System.GCP, held=providers[System.GCP].held)
    with pytest.raises(Crash):  # killed after the leaver's GCP cut reached the system
        _run(_plan(*LEAVER_ACTIONS), {**providers, System.GCP: crashing}, AuditLog(path))

    def completions() -> list[str | None]:
        return [
            r.person_id for r in read_records(path) if r.type == RecordType.OFFBOARDING_COMPLETE
        ]

    partial = _snapshot(incomplete=System.GITHUB)
    on_partial = _run(
        _plan(*NEWCOMER_ACTIONS, snapshot=partial), providers, AuditLog(path), snapshot=partial
    )
    assert not on_partial.failures and on_partial.offboarding_completed == ()
    assert completions() == []
    # The control: with a complete read the same re-run does record it.
    on_complete = _run(_plan(*NEWCOMER_ACTIONS), providers, AuditLog(path))
    assert on_complete.offboarding_completed == ("e0042",)
    assert completions() == ["e0042"]


class ReadCrashesWithToken(RecordingProvider):
    """A provider whose read raises something other than a ProviderError (a bug, a client
    library surprise), with a credential in the message."""

    def read(self, desired: DesiredState, now: datetime | None = None) -> SnapshotPart:
        raise KeyError(f"pageToken missing; session {GOOGLE_ACCESS_TOKEN}")


def test_a_read_that_raises_is_incomplete_never_empty_and_its_reason_is_redacted() -> None:
    providers: dict[System, Provider] = {
        System.GOOGLE: ReadCrashesWithToken(System.GOOGLE),
        System.GITHUB: RecordingProvider(System.GITHUB),
    }
    snap = read_all(providers, DESIRED, NOW)
    assert not snap.is_complete(System.GOOGLE)
    assert snap.is_complete(System.GITHUB)
    (reason,) = snap.parts[System.GOOGLE].status.problems
    assert reason.startswith("KeyError: ") and _leaks(reason) == []


def _with_prod_policy(*bindings: Binding) -> Snapshot:
    parts = [p for s, p in _snapshot().parts.items() if s is not System.GCP]
    owner = Binding("roles/owner", ("user:cto@example.co.jp",))
    policy = IamPolicy("projects/example-prod", "BwX1", 3, (owner, *bindings))
    grant = Grant(
        GrantKind.GCP_BINDING, "projects/example-prod", "user:cto@example.co.jp", "roles/owner"
    )
    parts.append(
        SnapshotPart(
            System.GCP,
            ReadStatus(System.GCP, complete=True),
            grants=(grant,),
            policies=(policy,),
        )
    )
    return Snapshot.of(NOW, parts)


def test_a_saved_plan_is_stale_when_only_an_unmanaged_part_of_a_gcp_policy_changed() -> None:
    """A conditional owner binding appeared (the product does not manage it, so no grant
    changed): the reviewed plan was made against a different policy and is refused."""
    before = _with_prod_policy()
    saved = plan_to_json(_plan(*NEWCOMER_ACTIONS, snapshot=before))
    verify_saved_plan(saved, before)  # unchanged: accepted
    conditional = Binding(
        "roles/owner",
        ("user:contractor@example.com",),
        {"title": "until-friday", "expression": "request.time < timestamp('2026-12-04T00:00:00Z')"},
    )
    with pytest.raises(StalePlan):
        verify_saved_plan(saved, _with_prod_policy(conditional))


def test_the_log_masks_a_secret_key_and_a_token_in_any_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    get_logger("tests.safety").warning(
        "action failed", error=f"upstream said {GITHUB_PAT}", access_token="opaque-value-1234"
    )
    line = capsys.readouterr().err
    assert "action failed" in line and "upstream said" in line
    assert _leaks(line) == [] and "opaque-value-1234" not in line
    assert json.loads(line)["access_token"] == REDACTED


def test_the_log_masks_a_registered_secret_by_value_in_nested_values_and_exceptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A registered secret has no shape a pattern knows (here: 40 hex, like a commit id); it
    is masked wherever a log event carries it, lists, dicts and exceptions included, and a
    commit id that is not registered is left alone."""
    secret = "9d4e1c7a2b5f8e3d6c0a9b8f7e6d5c4b3a2f1e0d"
    commit = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
    register_secret(secret)
    configure_logging("json", "info")
    get_logger("tests.safety").warning(
        "plan refused",
        reasons=[f"refused: {secret}"],
        detail={"body": {"message": secret}},
        error=RuntimeError(f"upstream echoed {secret}"),
        desired_commit=commit,
    )
    line = capsys.readouterr().err
    event = json.loads(line)
    assert secret not in line
    assert event["reasons"] == [f"refused: {REDACTED}"]
    assert event["detail"] == {"body": {"message": REDACTED}}
    assert event["error"] == f"RuntimeError: upstream echoed {REDACTED}"
    assert event["desired_commit"] == commit


def test_a_registered_private_key_is_masked_whole_json_escaped_and_line_by_line() -> None:
    """An API may quote a key inside JSON (newlines escaped) or echo a fragment of it."""
    body = "".join(f"Q{i:02d}" + "w9Er" * 15 + "\n" for i in range(3))  # invented base64 lines
    key = f"-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\n"
    register_secret(key)
    escaped = json.dumps({"private_key": key})
    assert "w9Er" not in redact_text(escaped)
    assert redact_text(f"line: {body.splitlines()[1]}") == f"line: {REDACTED}"
    assert redact_text("short 1234567") == "short 1234567"  # below MIN_SECRET_LENGTH: kept
    # Registering one key must not stop the shape net from masking another key whole.
    other = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzInvented0ther\n"
        "-----END RSA PRIVATE KEY-----"
    )
    assert redact_text(f"dump: {other}") == f"dump: {REDACTED}"
