"""Load, validate and expand the desired-state repo (pure: no clock, no network).

The public surface, used by the CLI, the daemon, the planner and the reports:
`load_desired_state` / `load_desired_dir` (raise only `ValidationFailed`, carrying every
`DesiredStateError`), `expand_access` / `access_on` (what everyone holds at a moment / on a day),
`load_for_offboarding` (organization.yaml and one person only, for `offboard --now`).
"""

from reconciler.desired.emergency import EmergencyDesired, load_for_offboarding
from reconciler.desired.expanding import access_on, expand_access
from reconciler.desired.loading import load_desired_dir, load_desired_state, read_desired_files
from reconciler.desired.problems import DesiredStateError, ValidationFailed

__all__ = [
    "DesiredStateError",
    "EmergencyDesired",
    "ValidationFailed",
    "access_on",
    "expand_access",
    "load_desired_dir",
    "load_desired_state",
    "load_for_offboarding",
    "read_desired_files",
]
