"""`reconciler serve`, the service mode: webhooks, scheduler endpoints, polling and in-process
schedules trigger the same runs as the CLI (`reconciler.runs`), one at a time; started by
`reconciler.cli.commands_serve`. See docs/daemon.md."""
