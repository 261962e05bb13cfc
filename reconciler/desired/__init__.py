"""Load, validate and expand the desired-state repo (pure: no clock, no network)."""
