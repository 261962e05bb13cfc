"""`reconciler sandbox`: run the local API emulator (filled in by the sandbox issue)."""

from __future__ import annotations

from reconciler.cli import app


@app.command()
def sandbox() -> None:
    """Run the local emulator of Google Directory, GitHub and GCP IAM on 127.0.0.1."""
    raise SystemExit("not yet implemented")
