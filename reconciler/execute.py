"""Apply a Plan: ordering, safety valves, retries, audit log."""
