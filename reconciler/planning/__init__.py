"""The planner's internals (per-system diffs, guards, safety checks); import them through the
public facade `reconciler.plan`, which the executor, CLI and reports use."""
