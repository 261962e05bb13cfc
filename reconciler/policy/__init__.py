"""Pure policy checks turning desired state x Snapshot into Findings, each citing the policy
article it serves; called by the planner (`reconciler.plan`) and by reports.

One module per area (people and leavers, accounts and 2SV, GitHub, Google groups, GCP,
privilege, emergency holds); the shared views they read live in `reconciler.views`.
"""

from reconciler.policy.checks import check_findings, findings_of
from reconciler.policy.context import sort_findings

__all__ = ["check_findings", "findings_of", "sort_findings"]
