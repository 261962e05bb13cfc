"""A small valid desired-state repo as text; the loader tests vary it one file at a time."""

from __future__ import annotations

ORGANIZATION = """\
name: Example
domains: [example.co.jp]
timezone: Asia/Tokyo
security_officer: e0002
chief_officer: e0001
systems:
  google: {customer: C01example, domain: example.co.jp}
  github: {org: example-co}
  gcp:
    resources:
      - {resource: organizations/123456789012}
      - {resource: projects/example-dev, environment: dev}
      - {resource: projects/example-prod, environment: prod, mode: authoritative}
non_human_accounts:
  - {id: deploy, system: gcp, identity: deploy@example-prod.iam.gserviceaccount.com, owner: e0002}
"""

ROLES = """\
engineer:
  google_groups: [{group: eng@example.co.jp}]
  github: {org_role: member, teams: [{team: backend, role: member}]}
  gcp:
    - {resource: projects/example-dev, role: roles/editor}
admin:
  privileged: true
  google_admin: true
  github: {org_role: admin}
  gcp:
    - {resource: organizations/123456789012, role: roles/resourcemanager.organizationAdmin}
prod-debug:
  privileged: true
  gcp:
    - {resource: projects/example-prod, role: roles/container.developer}
"""

CEO = """\
id: e0001
name: 佐藤 一郎
email: ichiro.sato@example.co.jp
employment: {type: director, start: 2018-04-01}
roles: []
"""

CTO = """\
id: e0002
name: 鈴木 健
email: ken.suzuki@example.co.jp
github: ksuzuki
employment: {type: employee, start: 2018-04-01}
roles: [engineer, admin]
"""

ENGINEER = """\
id: e0003
name: 山田 太郎
email: taro.yamada@example.co.jp
github: tyamada
employment: {type: employee, start: 2025-04-01}
roles: [engineer]
"""

BASE: dict[str, str] = {
    "organization.yaml": ORGANIZATION,
    "roles.yaml": ROLES,
    "people/e0001.yaml": CEO,
    "people/e0002.yaml": CTO,
    "people/e0003.yaml": ENGINEER,
}


def repo(changes: dict[str, str | bytes | None] | None = None) -> dict[str, bytes]:
    """BASE with some files replaced or added (text or raw bytes), or removed (None)."""
    files: dict[str, str | bytes | None] = {**BASE, **(changes or {})}
    return {
        name: text if isinstance(text, bytes) else text.encode()
        for name, text in files.items()
        if text is not None
    }
