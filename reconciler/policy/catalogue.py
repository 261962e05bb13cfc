"""The finding catalogue: for every finding code its severity, policy article, titles,
explanation and remediation in Japanese and English; read by the checks (`Findings.add` takes
severity and article from here), by reports for titles, and by `reconciler findings`, which
generates docs/findings.md.

One place for each rule: a check names a code and, where the rule has one, a variant (a
super admin's missing 2SV is critical under 第12.5条); it never spells a severity or an article
itself, so the report, the documentation and the audit evidence cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.model import Severity


@dataclass(frozen=True)
class Variant:
    """A case of a finding that the policy rates differently from the code's default."""

    name: str  # what the check passes to `Findings.add(..., variant=...)`
    severity: Severity
    article: str
    when_en: str
    when_ja: str


@dataclass(frozen=True)
class FindingType:
    """One finding code as the customer's policy and an auditor see it."""

    code: str
    severity: Severity
    article: str  # 第X条 (and item), the policy article the finding serves
    title_en: str
    title_ja: str
    explanation_en: str
    explanation_ja: str
    remediation_en: str
    remediation_ja: str
    variants: tuple[Variant, ...] = ()

    def rating(self, variant: str | None = None) -> tuple[Severity, str]:
        """The severity and article of this code, or of one of its variants. An unknown
        variant is a programming error, raised so a test finds it, never silently rated."""
        if variant is None:
            return self.severity, self.article
        for v in self.variants:
            if v.name == variant:
                return v.severity, v.article
        raise KeyError(f"finding {self.code} has no variant {variant!r}")


_ENTRIES: tuple[FindingType, ...] = (
    FindingType(
        code="leaver-has-access",
        severity=Severity.CRITICAL,
        article="第5.2条3",
        title_en="A leaver still holds access",
        title_ja="退職者にアクセス権限が残っている",
        explanation_en=(
            "Someone whose last day has passed (DEPARTED) still holds access: an active Google "
            "account, group memberships, OAuth tokens, app passwords, GitHub membership, teams, "
            "collaborator access, a pending invitation or GCP bindings, their own or reached "
            "through a Google group bound on a resource (nested groups included; the message "
            "names the group path). The message says how many hours past the offboarding time."
        ),
        explanation_ja=(
            "最終出社日を過ぎた者(DEPARTED)が、まだアクセス権限を保持しています。対象は、"
            "有効な Google アカウント、グループのメンバーシップ、OAuth トークン、アプリ"
            "パスワード、GitHub の組織メンバーシップ・チーム・外部コラボレーター権限、保留中の"
            "招待、GCP の IAM バインディング(本人へのバインディングのほか、リソースに"
            "バインドされた Google グループ経由のものを含みます。ネストされたグループも辿り、"
            "経由したグループの経路をメッセージに示します)です。メッセージには、オフボーディング"
            "時刻を何時間過ぎているかも示します。"
        ),
        remediation_en=(
            "Apply the plan: it contains the offboarding actions. If the plan held something "
            "back (see its notes: incomplete read, last admin), fix that cause today: the "
            "policy requires same-day removal."
        ),
        remediation_ja=(
            "プランを適用してください。オフボーディングの操作が含まれています。プランが一部を"
            "保留した場合(読み取りの不完全、最後の管理者など。プランの注記を参照)は、その原因を"
            "本日中に解消してください。規定は退職・異動の当日中にすべてのアクセス権限を削除する"
            "ことを求めています。"
        ),
        variants=(
            Variant(
                "before-offboarding-time",
                Severity.HIGH,
                "第5.2条3",
                when_en="the offboarding moment is still ahead (a defensive case)",
                when_ja="オフボーディング時刻がまだ到来していない場合(防御的な判定)",
            ),
        ),
    ),
    FindingType(
        code="leaver-conditional-binding",
        severity=Severity.HIGH,
        article="第5.2条3",
        title_en="A leaver is named in a conditional GCP binding",
        title_ja="退職者が条件付きの IAM バインディングに残っている",
        explanation_en=(
            "A leaver is named in a *conditional* GCP IAM binding. The product never edits "
            "conditional bindings (it cannot judge the condition)."
        ),
        explanation_ja=(
            "退職者が、条件付きの GCP IAM バインディングのメンバーに含まれています。本製品は"
            "条件の妥当性を判断できないため、条件付きバインディングを変更しません。"
        ),
        remediation_en=(
            "Remove the member from the binding by hand (console or "
            "`gcloud ... remove-iam-policy-binding --condition=...`)."
        ),
        remediation_ja=(
            "コンソール、または `gcloud ... remove-iam-policy-binding --condition=...` で、"
            "該当するメンバーをバインディングから手作業で削除してください。"
        ),
    ),
    FindingType(
        code="access-before-start",
        severity=Severity.MEDIUM,
        article="第5.2条1",
        title_en="Access before the start date",
        title_ja="入社日前にアクセス権限がある",
        explanation_en=(
            "A person whose start date is in the future already holds access. Nothing is "
            "created before the start date, and existing access is not removed automatically "
            "(it may be a deliberate early setup)."
        ),
        explanation_ja=(
            "開始日が未来の者が、すでにアクセス権限を保持しています。本製品は開始日より前には"
            "何も作成せず、既存のアクセス権限も自動では削除しません(意図的な事前準備の可能性が"
            "あるためです)。"
        ),
        remediation_en="Confirm the security officer approved early access, or remove it.",
        remediation_ja=(
            "情報セキュリティ責任者が開始日前のアクセスを事前に承認していることを確認して"
            "ください。承認がなければ削除してください。"
        ),
    ),
    FindingType(
        code="unmanaged-account",
        severity=Severity.HIGH,
        article="第5.1条",
        title_en="An account nobody in the repo owns",
        title_ja="リポジトリに記載のないアカウント",
        explanation_en=(
            "A Workspace account (not suspended) or a GitHub org member that belongs to nobody "
            "in the repo and is not listed as protected or non-human. Workspace accounts are "
            "**never suspended automatically**; GitHub members are removed by the plan when "
            "the org is managed."
        ),
        explanation_ja=(
            "リポジトリの誰にも属さず、保護アカウントや非人間アカウントとしても登録されていない"
            " Workspace アカウント(停止されていないもの)、または GitHub 組織のメンバーです。"
            "Workspace アカウントは**自動では停止しません**。GitHub のメンバーは、組織が管理"
            "対象であればプランが削除します。"
        ),
        remediation_en=(
            "Add a person file, list the account under `protected_accounts` / "
            "`non_human_accounts` with an owner, or suspend / remove it by hand."
        ),
        remediation_ja=(
            "人員ファイルを追加するか、所有者を定めて `protected_accounts` / "
            "`non_human_accounts` に登録するか、手作業で停止・削除してください。"
        ),
    ),
    FindingType(
        code="unmanaged-grant",
        severity=Severity.MEDIUM,
        article="第5.1条",
        title_en="Access the repo does not grant",
        title_ja="リポジトリが付与していないアクセス権限",
        explanation_en=(
            "Access the repo does not grant and the plan does not remove: an outside "
            "collaborator, a pending invitation for someone not in the repo, a nested group "
            "(or unknown in-domain address) in a managed group, a `user:` binding of a role the "
            "repo does not manage, or a stranger's binding on an `additive` resource."
        ),
        explanation_ja=(
            "リポジトリが付与しておらず、プランも削除しないアクセス権限です。外部コラボレーター、"
            "リポジトリに記載のない者への保留中の招待、管理対象グループ内のネストされたグループ"
            "(またはユーザーではないドメイン内のアドレス)、本製品が管理しないロールの `user:` "
            "バインディング、`additive` リソース上の第三者のバインディングが該当します。"
        ),
        remediation_en="Confirm it is approved and record it in the repo, or remove it by hand.",
        remediation_ja=(
            "情報セキュリティ責任者の承認があることを確認してリポジトリに記録するか、手作業で"
            "削除してください。"
        ),
    ),
    FindingType(
        code="2sv-not-enrolled",
        severity=Severity.HIGH,
        article="第5.3条",
        title_en="2-Step Verification not enrolled",
        title_ja="2段階認証(多要素認証)が未設定",
        explanation_en=(
            "An active Workspace user has not enrolled in 2-Step Verification, or a GitHub "
            "member has no 2FA. An account whose enrolment the API did not report is not a "
            'finding: only a known "off" is.'
        ),
        explanation_ja=(
            "有効な Workspace ユーザーが2段階認証プロセスに登録していない、または GitHub の"
            "メンバーが2要素認証を設定していません。API が登録状況を返さなかったアカウントは"
            "報告しません(「未設定」と判明したものだけを報告します)。"
        ),
        remediation_en=(
            "Enforce 2SV for the user's organisational unit; ask the user to enrol today."
        ),
        remediation_ja=(
            "ユーザーの組織部門で2段階認証プロセスを必須にし、本日中に登録するよう本人に依頼"
            "してください。"
        ),
        variants=(
            Variant(
                "admin",
                Severity.CRITICAL,
                "第12.5条",
                when_en="the account is a super admin or an org owner (MFA for administrative "
                "access)",
                when_ja="特権管理者または組織のオーナーである場合(管理アクセス時の多要素認証)",
            ),
        ),
    ),
    FindingType(
        code="org-2fa-not-required",
        severity=Severity.HIGH,
        article="第5.3条",
        title_en="The GitHub organisation does not require 2FA",
        title_ja="GitHub 組織で2要素認証が必須になっていない",
        explanation_en="The GitHub organisation does not require two-factor authentication.",
        explanation_ja=(
            "GitHub 組織がメンバーに2要素認証を必須としていません。規定は組織レベルでの"
            "多要素認証の必須化を求めています。"
        ),
        remediation_en=(
            "Organisation settings -> Authentication security -> Require two-factor authentication."
        ),
        remediation_ja=(
            "組織の Settings -> Authentication security -> Require two-factor authentication "
            "を有効にしてください。"
        ),
    ),
    FindingType(
        code="privileged-holder",
        severity=Severity.CRITICAL,
        article="第10.2条",
        title_en="A privilege held by someone other than the security officer",
        title_ja="情報セキュリティ責任者以外が特権を保持している",
        explanation_en=(
            "Someone other than the security officer holds a privileged right: Workspace super "
            "admin, GitHub org owner, or a privileged GCP role (`roles/owner`, "
            "`roles/resourcemanager.organizationAdmin`, `folderAdmin`, `projectIamAdmin`, "
            "`roles/iam.securityAdmin`, `organizationRoleAdmin`, `serviceAccountTokenCreator` "
            "(the list the desired-state checks use), and every role granted by a role marked "
            "`privileged: true`) without an **approved, time-boxed** grant (an extra grant "
            "with `approved_by` and `expires`). A GCP role reached through a Google group (nested "
            "groups included) counts as held. Protected break-glass accounts and conditional "
            "GCP bindings (the GCP way to time-box) are exempt."
        ),
        explanation_ja=(
            "情報セキュリティ責任者以外の者が、**承認済みかつ期限付き**の付与(`approved_by` と"
            " `expires` を持つ追加付与)なしに特権を保持しています。特権とは、Workspace の"
            "特権管理者、GitHub 組織のオーナー、および特権的な GCP ロール(`roles/owner`、"
            "`roles/resourcemanager.organizationAdmin`、`folderAdmin`、`projectIamAdmin`、"
            "`roles/iam.securityAdmin`、`organizationRoleAdmin`、"
            "`serviceAccountTokenCreator` などリポジトリの検証と同じ一覧、および "
            "`privileged: true` のロールが付与するすべてのロール)です。Google グループ経由"
            "(ネストされたグループを含む)で届く GCP のロールも保持しているものとみなします。"
            "保護された緊急用"
            "(ブレークグラス)アカウントと、条件付きの GCP バインディング(GCP で期限を区切る"
            "方法)は対象外です。"
        ),
        remediation_en=(
            "Remove the privilege, or record an approved extra grant with an expiry in the "
            "person file."
        ),
        remediation_ja=(
            "特権を削除するか、情報セキュリティ責任者が承認した期限付きの追加付与を人員ファイル"
            "に記録してください。"
        ),
    ),
    FindingType(
        code="shared-account",
        severity=Severity.MEDIUM,
        article="第5.1条",
        title_en="An account that looks shared",
        title_ja="共有アカウントの疑い",
        explanation_en=(
            "A Workspace account whose local part names a function rather than a person "
            "(`admin`, `info`, `support`, `dev-team`, `shared.ops`, ...; the same rule the "
            "desired-state checks use) and that is not listed as a non-human account."
        ),
        explanation_ja=(
            "ローカル部(@ の前)が個人ではなく機能を表す Workspace アカウント(`admin`、"
            "`info`、`support`、`dev-team`、`shared.ops` など。リポジトリの検証と同じ規則)で、"
            "非人間アカウントとして登録されていないものです。規定は共有アカウントの使用を"
            "禁じています。"
        ),
        remediation_en=(
            "Replace it with personal accounts, or list it under `non_human_accounts` with an "
            "owning person."
        ),
        remediation_ja=(
            "個人アカウントに置き換えるか、所有者を定めて `non_human_accounts` に登録してください。"
        ),
    ),
    FindingType(
        code="external-member",
        severity=Severity.MEDIUM,
        article="第6.1条",
        title_en="A group member outside the organisation",
        title_ja="組織外のグループメンバー",
        explanation_en=(
            "A Google group member outside the organisation's domains (or their subdomains)."
        ),
        explanation_ja=(
            "Google グループのメンバーが、組織のドメイン(およびそのサブドメイン)以外の"
            "アドレスです。"
        ),
        remediation_en=(
            "Confirm an NDA covers the person or company; remove the member otherwise. In a "
            "managed group the plan removes it unless the repo grants it."
        ),
        remediation_ja=(
            "その個人または会社と NDA を締結済みであることを確認し、締結していなければメンバー"
            "から削除してください。管理対象のグループでは、リポジトリが付与していない限り"
            "プランが削除します。"
        ),
    ),
    FindingType(
        code="dormant-account",
        severity=Severity.MEDIUM,
        article="第5.2条2",
        title_en="A dormant account",
        title_ja="長期間使われていないアカウント",
        explanation_en=(
            "An active Workspace account with no sign-in for more than "
            "`limits.dormant_after_days` (default 90), or never signed in although created "
            "longer ago than that. Protected and non-human accounts are exempt (break-glass "
            "accounts are dormant by design)."
        ),
        explanation_ja=(
            "有効な Workspace アカウントが `limits.dormant_after_days`(既定 90 日)を超えて"
            "ログインしていない、または作成からそれ以上経っても一度もログインしていません。"
            "保護アカウントと非人間アカウントは対象外です(緊急用アカウントは普段使わないことが"
            "前提のため)。"
        ),
        remediation_en=(
            "Ask whether the account is still needed; end the person's employment in the repo "
            "or suspend it."
        ),
        remediation_ja=(
            "アカウントがまだ必要か確認してください。不要であれば、リポジトリで本人の雇用終了を"
            "記録するか、アカウントを停止してください(不要となったアカウントは速やかに削除)。"
        ),
    ),
    FindingType(
        code="user-managed-key",
        severity=Severity.HIGH,
        article="第4.1条",
        title_en="A user-managed service account key",
        title_ja="ユーザー管理のサービスアカウントキー",
        explanation_en=(
            "A service account has enabled user-managed keys: long-lived credentials outside "
            "the secret manager."
        ),
        explanation_ja=(
            "サービスアカウントに有効なユーザー管理キーがあります。シークレットマネージャーの"
            "外にある、長期間有効な認証情報です。"
        ),
        remediation_en=(
            "Delete the key; use workload identity federation or attached service accounts, or "
            "keep the key only in Secret Manager."
        ),
        remediation_ja=(
            "キーを削除し、Workload Identity 連携またはアタッチしたサービスアカウントを使って"
            "ください。どうしても必要なキーは Secret Manager にのみ保管してください。"
        ),
    ),
    FindingType(
        code="stale-invitation",
        severity=Severity.LOW,
        article="第5.2条2",
        title_en="A GitHub invitation pending too long",
        title_ja="長期間保留されている GitHub の招待",
        explanation_en=(
            "A GitHub invitation has been pending longer than `limits.stale_invitation_days` "
            "(default 7)."
        ),
        explanation_ja=(
            "GitHub の招待が `limits.stale_invitation_days`(既定 7 日)を超えて保留されています。"
        ),
        remediation_en="Remind the person, or cancel the invitation.",
        remediation_ja="本人に承諾を促すか、招待を取り消してください。",
    ),
    FindingType(
        code="failed-invitation",
        severity=Severity.LOW,
        article="第5.2条1",
        title_en="A failed GitHub invitation",
        title_ja="失敗した GitHub の招待",
        explanation_en=(
            "A GitHub invitation failed (expired or declined); GitHub does not resend failed "
            "invitations."
        ),
        explanation_ja=(
            "GitHub の招待が失敗しました(期限切れまたは辞退)。GitHub は失敗した招待を再送しません。"
        ),
        remediation_en="Check the login in the person file; the next run invites again.",
        remediation_ja="人員ファイルのログイン名を確認してください。次回の実行で改めて招待します。",
    ),
    FindingType(
        code="deleted-principal",
        severity=Severity.MEDIUM,
        article="第5.2条2",
        title_en="A deleted principal left in a binding",
        title_ja="削除済みのプリンシパルがバインディングに残っている",
        explanation_en=(
            "An IAM binding still names a deleted user, group or service account (`deleted:...`)."
        ),
        explanation_ja=(
            "IAM バインディングが、削除済みのユーザー、グループまたはサービスアカウント"
            "(`deleted:...`)を指したままです。"
        ),
        remediation_en=(
            "Remove the stale member from the binding; it can be re-attached if the principal "
            "is undeleted."
        ),
        remediation_ja=(
            "不要になったメンバーをバインディングから削除してください。プリンシパルを復元した"
            "場合は、改めて付与できます。"
        ),
    ),
    FindingType(
        code="audit-logs-disabled",
        severity=Severity.HIGH,
        article="第14.1条",
        title_en="Audit logs not enabled",
        title_ja="監査ログが有効になっていない",
        explanation_en=(
            "A GCP resource in scope with `require_audit_logs` has no audit config for "
            "`allServices` with all of `ADMIN_READ`, `DATA_READ` and `DATA_WRITE`."
        ),
        explanation_ja=(
            "`require_audit_logs` が指定された対象の GCP リソースに、`allServices` について "
            "`ADMIN_READ`、`DATA_READ`、`DATA_WRITE` のすべてを記録する監査ログ設定が"
            "ありません。"
        ),
        remediation_en=(
            "Enable data access audit logs on the resource (IAM & Admin -> Audit logs)."
        ),
        remediation_ja=(
            "リソースのデータアクセス監査ログを有効にしてください(IAM と管理 -> 監査ログ)。"
        ),
    ),
    FindingType(
        code="owner-on-prod",
        severity=Severity.HIGH,
        article="第12.2条",
        title_en="roles/owner on production",
        title_ja="本番環境のオーナー権限",
        explanation_en=(
            "Anyone, the security officer included, holds `roles/owner` on a resource whose "
            "environment is `prod` (also 第10.2条: privileged use only as an exception), "
            "bound to them or reached through a group bound as owner (the subject ends with "
            "`via group:...` and the message names the group path). The plan never changes a "
            "group's membership because of a GCP binding."
        ),
        explanation_ja=(
            "環境が `prod` のリソースで、誰か(情報セキュリティ責任者を含む)が `roles/owner` "
            "を保持しています(第10.2条:特権を利用した操作は例外時のみ)。本人へのバインディング"
            "だけでなく、オーナーとしてバインドされたグループ経由で届くものも対象です(対象欄は "
            "`via group:...` で終わり、メッセージにグループの経路を示します)。プランは GCP の"
            "バインディングを理由にグループのメンバーシップを変更しません。"
        ),
        remediation_en=(
            "Use narrower roles and time-boxed elevation on production. Through a group: "
            "remove the person from the group the message names, or bind a narrower role to "
            "the group."
        ),
        remediation_ja=(
            "本番環境では、より権限の狭いロールと期限付きの権限昇格を使ってください。グループ"
            "経由の場合は、メッセージに示されたグループから本人を外すか、グループにより狭い"
            "ロールをバインドしてください。"
        ),
    ),
    FindingType(
        code="expiring-grant",
        severity=Severity.INFO,
        article="第5.2条1",
        title_en="An approved grant expires soon",
        title_ja="まもなく期限切れになる承認済みの付与",
        explanation_en="An approved extra grant ends within 7 days.",
        explanation_ja="承認済みの追加付与が 7 日以内に終了します。",
        remediation_en=(
            "Renew it with a new approval if it is still needed; otherwise nothing: it expires "
            "by itself."
        ),
        remediation_ja=(
            "引き続き必要であれば、改めて承認を得て更新してください。不要であれば対応は不要です"
            "(期限が来れば自動的に失効します)。"
        ),
    ),
    FindingType(
        code="github-login-renamed",
        severity=Severity.INFO,
        article="第5.2条2",
        title_en="A GitHub login was renamed",
        title_ja="GitHub のログイン名が変更された",
        explanation_en=(
            "The GitHub account with the person's `github_id` now has another login. The "
            "planner already follows the id."
        ),
        explanation_ja=(
            "人員ファイルの `github_id` を持つ GitHub アカウントのログイン名が変わっています。"
            "プランナーはすでに ID で追跡しています。"
        ),
        remediation_en="Update `github:` in the person file.",
        remediation_ja="人員ファイルの `github:` を更新してください。",
    ),
    FindingType(
        code="github-login-taken",
        severity=Severity.HIGH,
        article="第5.1条",
        title_en="A person's GitHub login belongs to another account",
        title_ja="GitHub のログイン名が別のアカウントに使われている",
        explanation_en=(
            "The login in a person file belongs to another GitHub account (a different numeric "
            "id) that is a member or outside collaborator of the org: someone took the old "
            "login after a rename. That account gets nothing on the person's behalf and is "
            "removed from the org as a stranger."
        ),
        explanation_ja=(
            "人員ファイルのログイン名が、組織のメンバーまたは外部コラボレーターである別の "
            "GitHub アカウント(異なる数値 ID)のものになっています。改名の後、旧ログイン名を"
            "第三者が取得した状態です。そのアカウントには本人の代わりに何も付与せず、第三者と"
            "して組織から削除します。"
        ),
        remediation_en=(
            "Put the person's current login in their file; check the account holding the old login."
        ),
        remediation_ja=(
            "本人の現在のログイン名を人員ファイルに記載し、旧ログイン名を持つアカウントを確認"
            "してください。"
        ),
    ),
    FindingType(
        code="github-invitee-login-taken",
        severity=Severity.HIGH,
        article="第5.2条1",
        title_en="An invitee's GitHub login belongs to another account",
        title_ja="招待予定者の GitHub ログイン名が別のアカウントに使われている",
        explanation_en=(
            "The person is to be invited, and the login in their file belongs to another "
            "GitHub account (a different id than the recorded `github_id`) outside the org, "
            "found when the read resolved the person before inviting them. That account is "
            "never invited: access would go to someone nobody assessed or approved (第5.2条1 "
            "requires prior approval for the person access is issued to). If the person's own "
            "account was found by its id under a new login, it is invited by id; otherwise "
            "the invitation is held back (see the plan's notes)."
        ),
        explanation_ja=(
            "招待予定の者の人員ファイルにあるログイン名が、組織外の別の GitHub アカウント"
            "(記録された `github_id` と異なる ID)のものになっています。招待の前に本人を"
            "照会した読み取りで判明しました。そのアカウントは決して招待しません。誰も評価・"
            "承認していない者にアクセス権限が渡るためです(第5.2条1は付与先についての事前承認を"
            "求めています)。本人のアカウントが ID により新しいログイン名で見つかった場合は ID で"
            "招待し、見つからない場合は招待を保留します(プランの注記を参照)。"
        ),
        remediation_en=(
            "Put the person's current login in their file; check who holds the old login."
        ),
        remediation_ja=(
            "本人の現在のログイン名を人員ファイルに記載し、旧ログイン名を誰が持っているか確認"
            "してください。"
        ),
    ),
    FindingType(
        code="contractor-nda",
        severity=Severity.HIGH,
        article="第6.1条",
        title_en="A contractor without an NDA",
        title_ja="業務委託者の NDA が未締結",
        explanation_en=(
            "A contractor (not departed) has no NDA date, or signed the NDA after starting."
        ),
        explanation_ja=(
            "業務委託者(退職前)に NDA の締結日が記録されていない、または開始日より後に NDA を"
            "締結しています。外部関係者との情報共有には NDA の締結が必須です。"
        ),
        remediation_en=(
            "Record the NDA date (`employment.nda`), or stop sharing information until it is "
            "signed."
        ),
        remediation_ja=(
            "NDA の締結日(`employment.nda`)を記録するか、締結されるまで情報の共有を止めてください。"
        ),
    ),
    FindingType(
        code="security-training-overdue",
        severity=Severity.MEDIUM,
        article="第11.1条",
        title_en="Security training overdue",
        title_ja="セキュリティ教育の受講期限切れ",
        explanation_en=(
            "An active person's last security training (`training` in their file) is more "
            "than a year ago, or not recorded. The policy asks every member to take the "
            "security training once a year."
        ),
        explanation_ja=(
            "在籍中の者の最後のセキュリティ教育の受講日(人員ファイルの `training`)が1年より"
            "前であるか、記録されていません。規程は全員に年1回のセキュリティ教育の受講を"
            "求めています。"
        ),
        remediation_en=(
            "Have the person take the training, then record its date (`training: YYYY-MM-DD`)."
        ),
        remediation_ja=(
            "本人に教育を受講させ、受講日(`training: YYYY-MM-DD`)を人員ファイルに記録してください。"
        ),
    ),
    FindingType(
        code="non-human-owner-departed",
        severity=Severity.HIGH,
        article="第5.1条",
        title_en="A non-human account whose owner left",
        title_ja="非人間アカウントの所有者が不在",
        explanation_en="A non-human account's owner has left or is not in the repo.",
        explanation_ja=("非人間アカウントの所有者が退職したか、リポジトリに記載されていません。"),
        remediation_en=("Assign a new owner in `organization.yaml`, or disable the account."),
        remediation_ja=(
            "`organization.yaml` で新しい所有者を割り当てるか、アカウントを無効にしてください。"
        ),
    ),
    FindingType(
        code="emergency-hold-not-in-repo",
        severity=Severity.CRITICAL,
        article="第5.2条3",
        title_en="An emergency offboarding the repo has not caught up with",
        title_ja="緊急オフボーディングがリポジトリに反映されていない",
        explanation_en=(
            "Someone was offboarded in an emergency (`reconciler offboard`), but their person "
            "file still has no end date, a later one, or is gone. Reality and the repo "
            "disagree, and only the standing hold stops the next run from giving the access "
            "back."
        ),
        explanation_ja=(
            "緊急オフボーディング(`reconciler offboard`)を行った者の人員ファイルに、まだ"
            "終了日がない、より後の終了日が書かれている、またはファイル自体がありません。実態と"
            "リポジトリが食い違っており、次回の実行でアクセス権限が戻されるのを防いでいるのは"
            "ホールドだけです。"
        ),
        remediation_en=(
            "Commit the `employment.end` the message gives to the person file. Until then the "
            "hold keeps them offboarded."
        ),
        remediation_ja=(
            "メッセージに示された `employment.end` を人員ファイルに記載してコミットしてください。"
            "それまではホールドが本人をオフボーディング済みの状態に保ちます。"
        ),
    ),
)

CATALOGUE: Mapping[str, FindingType] = {e.code: e for e in _ENTRIES}
assert len(CATALOGUE) == len(_ENTRIES), "a finding code is catalogued twice"


def finding_type(code: str) -> FindingType:
    """The catalogue entry of `code`. An uncatalogued code is a programming error: raised, so
    no finding ever leaves the product without a severity, an article and a remediation."""
    try:
        return CATALOGUE[code]
    except KeyError:
        raise KeyError(f"finding code {code!r} is not in the catalogue") from None
