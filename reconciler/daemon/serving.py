"""The daemon process: the starlette app (webhook, scheduler, health and metrics endpoints)
served by uvicorn, and the `Daemon` that owns the single-flight worker, the schedules and the
poller; built and run by `reconciler serve` (reconciler/cli/commands_serve.py).

Endpoints answer at once and leave the work to the worker thread: a webhook is verified,
remembered and queued within milliseconds, whatever a run is doing. On SIGTERM uvicorn stops
accepting and finishes open requests; the lifespan's shutdown then sets the stop flag, which
a confirmed run checks between actions, and waits for the worker, so the run lock is released
and the audit log ends with a `run-end` record.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.daemon.authenticating import OidcVerifier
from reconciler.daemon.coalescing import SingleFlight
from reconciler.daemon.configuring import ConfigError, DaemonConfig
from reconciler.daemon.fetching import DesiredRepo
from reconciler.daemon.jobs import Job, JobKind
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notifying import Notifier
from reconciler.daemon.routing import job_for
from reconciler.daemon.running import Runner, now
from reconciler.daemon.scheduling import run_polling, run_schedules, start_thread
from reconciler.daemon.seen_ids import DELIVERIES, SeenIds
from reconciler.daemon.signing import signature_ok
from reconciler.log import get_logger
from reconciler.state import StateStoreError, open_state_store

log = get_logger(__name__)

MAX_BODY = 1024 * 1024  # GitHub caps payloads at 25 MB; a push to a YAML repo is a few KB
SHUTDOWN_WAIT = 120.0  # seconds the shutdown waits for the action under way and its records
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


class Daemon:
    """Everything one `serve` process holds. `prepare` (clone and fetch) runs before the
    server listens, so a wrong repo URL is a one-line error at start, not a failing run."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        settings = config.settings
        self.metrics = Metrics()
        self.stopping = threading.Event()
        self.repo = DesiredRepo(config.repo_url, settings.repo_branch, settings.work_dir)
        self.notifier = Notifier(config.notify_url, settings.notify_format)
        self.runner = Runner(config, self.repo, self.notifier, self.metrics, self.stopping)
        self.flight = SingleFlight(self.runner.run)
        self.metrics.jobs.labels("running").set_function(lambda: self.flight.counts()[0])
        self.metrics.jobs.labels("waiting").set_function(lambda: self.flight.counts()[1])
        self.deliveries = SeenIds(open_state_store(settings), DELIVERIES)
        certs = settings.oidc_certs_url
        if settings.sandbox_url and certs == GOOGLE_CERTS_URL:
            certs = f"{settings.sandbox_url.rstrip('/')}/oauth2/v1/certs"
        self.oidc = (
            OidcVerifier(
                audience=settings.service_url,
                email=settings.scheduler_service_account,
                certs_url=certs,
            )
            if settings.service_url and settings.scheduler_service_account
            else None
        )
        self.head: str | None = None

    def prepare(self) -> None:
        self.head = self.repo.prepare()

    def start(self) -> None:
        """The worker, a catch-up reconcile of the branch head (what was pushed while the
        daemon was down; its complete read makes the daemon ready), the schedules, the
        poller."""
        self.flight.start()
        self.flight.submit(Job(JobKind.RECONCILE, "start"))
        if self.config.schedules:
            schedules = self.config.schedules
            start_thread(
                "daemon-schedules",
                lambda: run_schedules(schedules, self.timezone, self.flight.submit, self.stopping),
            )
        if self.config.poll_seconds:
            seconds = self.config.poll_seconds
            start_thread(
                "daemon-poll",
                lambda: run_polling(
                    self.repo, seconds, self.head, self.flight.submit, self.stopping
                ),
            )

    def timezone(self) -> str:
        desired = self.runner.desired
        return desired.organization.timezone if desired is not None else "UTC"

    def stop(self) -> bool:
        """Stop between actions and wait for the worker; True when it ended in time."""
        log.info("stopping: the run under way ends after its current action")
        self.stopping.set()
        finished = self.flight.close(SHUTDOWN_WAIT)
        if not finished:
            log.error("the run did not stop in time; its last intent may lack a result")
        return finished


def _answer(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": status, "message": message, **extra}, status_code=status)


def build_app(daemon: Daemon) -> Starlette:
    deliveries = daemon.metrics.deliveries

    async def webhook(request: Request) -> Response:
        secret = daemon.config.webhook_secret
        if secret is None:
            return _answer(404, "webhooks are not configured (RECONCILER_WEBHOOK_SECRET_REF)")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            deliveries.labels("too-large").inc()
            return _answer(413, f"body over {MAX_BODY} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:  # a chunked body with no length: stop reading at once
                deliveries.labels("too-large").inc()
                return _answer(413, f"body over {MAX_BODY} bytes")
        if not signature_ok(secret, bytes(body), request.headers.get("x-hub-signature-256")):
            deliveries.labels("unauthorized").inc()
            log.warning("webhook refused: missing or wrong X-Hub-Signature-256")
            return _answer(401, "missing or wrong X-Hub-Signature-256")
        delivery = request.headers.get("x-github-delivery", "").strip()
        event = request.headers.get("x-github-event", "").strip()
        if not delivery or not event:
            deliveries.labels("malformed").inc()
            return _answer(400, "X-GitHub-Delivery and X-GitHub-Event are required")
        try:
            first = await run_in_threadpool(
                daemon.deliveries.first_time, f"github:{delivery}", now()
            )
        except StateStoreError as exc:
            deliveries.labels("error").inc()
            log.error("cannot remember the delivery", error=str(exc))
            return _answer(503, "the state store is unavailable; redeliver later")
        if not first:
            deliveries.labels("duplicate").inc()
            return _answer(200, f"delivery {delivery} was already received; nothing run")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            deliveries.labels("malformed").inc()
            return _answer(400, "the body is not a JSON object (content type application/json)")
        job = job_for(event, payload, branch=daemon.repo.branch)
        if job is None:
            deliveries.labels("ignored").inc()
            return _answer(200, f"{event} event ignored")
        deliveries.labels("accepted").inc()
        daemon.flight.submit(job)
        log.info("webhook accepted", delivery=delivery, gh_event=event, job=job.kind.value)
        return _answer(202, f"{job.kind.value} queued", job=job.kind.value)

    def scheduler(job: Job) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if daemon.oidc is None:
                return _answer(
                    404,
                    "scheduler endpoints are not configured (RECONCILER_SERVICE_URL, "
                    "RECONCILER_SCHEDULER_SERVICE_ACCOUNT)",
                )
            refusal = await run_in_threadpool(
                daemon.oidc.refusal, request.headers.get("authorization")
            )
            if refusal is not None:
                log.warning("scheduler call refused", path=request.url.path, reason=refusal)
                return _answer(401, "a valid Google-signed OIDC token is required")
            daemon.flight.submit(job)
            return _answer(202, f"{job.kind.value} queued", job=job.kind.value)

        return endpoint

    async def healthz(request: Request) -> Response:
        return _answer(200, "alive")

    async def readyz(request: Request) -> Response:
        if daemon.metrics.ready.is_set():
            return _answer(200, "ready")
        return _answer(503, "waiting for the first complete read")

    async def metrics(request: Request) -> Response:
        return Response(daemon.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        daemon.start()
        yield
        await run_in_threadpool(daemon.stop)

    routes = [
        Route(
            "/run/inventory",
            scheduler(Job(JobKind.INVENTORY, "scheduler-inventory")),
            methods=["POST"],
        ),
        Route("/webhook/github", webhook, methods=["POST"]),
        Route("/run/drift", scheduler(Job(JobKind.DRIFT, "scheduler-drift")), methods=["POST"]),
        Route("/run/sweep", scheduler(Job(JobKind.RECONCILE, "scheduler-sweep")), methods=["POST"]),
        Route(
            "/run/resync", scheduler(Job(JobKind.RECONCILE, "scheduler-resync")), methods=["POST"]
        ),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before uvicorn starts, so a busy port is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.listen(128)
    return sock


def run_server(daemon: Daemon, sock: socket.socket) -> bool:
    """Serve until SIGTERM or SIGINT; True when the server had started."""
    config = uvicorn.Config(
        build_app(daemon), log_config=None, access_log=False, lifespan="on",
        timeout_graceful_shutdown=10,
    )  # fmt: skip
    server = uvicorn.Server(config)
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal it shut down for once it is done; by then the
        # shutdown was graceful, so the process must exit 0, not die of the signal.
        for handled in (signal.SIGTERM, signal.SIGINT):
            signal.signal(handled, lambda *_: None)
    server.run(sockets=[sock])
    return bool(server.started)
