"""The daemon: webhook, scheduler, metrics, git sync and the run lock."""
