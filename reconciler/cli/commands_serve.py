"""`reconciler serve`: the service mode (webhooks, Cloud Scheduler endpoints, polling,
schedules, metrics; docs/daemon.md); registered by `reconciler.cli`. The work is in
`reconciler.daemon`; this module only turns options and settings into a running daemon, and
with `--sandbox` builds a throw-away world and a local git repo to watch it in."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from reconciler.cli import app
from reconciler.cli.common import embedded_sandbox, fail, load, now
from reconciler.settings import Settings, load_settings

SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - the documented demo secret
SANDBOX_SCHEDULER = "scheduler@example-prod.iam.gserviceaccount.com"


def _read_secret(reference: str) -> str:
    from reconciler.providers.google_auth import read_secret_text

    return read_secret_text(reference)


def _git(directory: Path, *args: str) -> None:
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", "-C", str(directory), "-c", "user.name=reconciler demo",  # noqa: S607
         "-c", "user.email=demo@example.com", *args],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@contextmanager
def _sandboxed(settings: Settings, url: str, source: Path) -> Iterator[Settings]:
    """An embedded sandbox with the demo world of `source`, and a git repo of `source` in a
    temp dir (commit to it to trigger runs), with the demo webhook secret."""
    desired = load(source)
    with (
        tempfile.TemporaryDirectory(prefix="reconciler-serve-") as tmp,
        embedded_sandbox(desired, now()) as sandbox_url,
    ):
        repo = Path(tmp) / "desired-state"
        shutil.copytree(source, repo)
        _git(repo, "init", "--quiet", "--initial-branch", settings.repo_branch)
        _git(repo, "add", "--all")
        _git(repo, "commit", "--quiet", "--message", "desired state for the sandbox")
        print(f"desired-state repo (commit here to trigger runs): {repo}", flush=True)
        print(f"sandbox: {sandbox_url}", flush=True)
        yield settings.model_copy(
            update={
                "sandbox_url": sandbox_url,
                "repo_url": str(repo),
                "work_dir": Path(tmp) / "work",
                "webhook_secret": settings.webhook_secret or SecretStr(SANDBOX_WEBHOOK_SECRET),
                "service_url": settings.service_url or url,
                "scheduler_service_account": settings.scheduler_service_account
                or SANDBOX_SCHEDULER,
            }
        )


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    poll: Annotated[
        str | None,
        typer.Option(help="Also fetch the repo this often (30s, 5m, 1h); for no webhooks."),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(help="Embedded sandbox and a local git repo of desired_state/ (demo)."),
    ] = False,
    directory: Annotated[
        Path, typer.Option("--dir", help="With --sandbox: the desired state to start from.")
    ] = Path("desired_state"),
) -> None:
    """Run as a service: reconcile on every push to the desired-state repo (GitHub webhook or
    polling), answer Cloud Scheduler, run schedules, serve /healthz, /readyz and /metrics.

    Changes are applied only with RECONCILER_APPLY=true; otherwise every run is a dry run.
    Stops on SIGTERM after the action under way (exit 0).
    """
    from reconciler.daemon.configuring import ConfigError, configure
    from reconciler.daemon.fetching import GitError
    from reconciler.daemon.serving import Daemon, listen, run_server

    settings = load_settings()  # parsed once already by the CLI's callback
    refusal = settings.write_refusal("serve with RECONCILER_APPLY=true")
    if settings.apply and refusal is not None:
        fail(refusal, 2)
    with ExitStack() as stack:
        try:
            sock = listen(host, port)
        except ConfigError as exc:
            fail(str(exc))
        url = f"http://{host}:{sock.getsockname()[1]}"
        if sandbox:
            settings = stack.enter_context(_sandboxed(settings, url, directory))
        try:
            config = configure(settings, sandbox=sandbox, poll=poll, read_secret=_read_secret)
            daemon = Daemon(config)
            daemon.prepare()
        except (ConfigError, GitError) as exc:
            sock.close()
            fail(str(exc))
        mode = "applying changes" if config.apply else "dry run (RECONCILER_APPLY is not true)"
        print(
            f"reconciler serve listening on {url}: {mode}; branch {settings.repo_branch}",
            flush=True,
        )
        if not run_server(daemon, sock):
            raise typer.Exit(1)
