"""Notifications to a Slack-compatible or generic webhook URL (`RECONCILER_NOTIFY_URL`):
offboardings done with their evidence, failures and refusals, new high or critical findings,
emergency holds not yet in the repo, invalid commits. Called by the runner; never raises into
a run, and every text is redacted before it leaves the process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import requests

from reconciler.log import get_logger, redact_text

log = get_logger(__name__)

NOTIFY_TIMEOUT = 10  # seconds; a slow receiver must not hold up the next run for long


def _redacted(details: Mapping[str, Any]) -> Any:
    text = redact_text(json.dumps(details, default=str, ensure_ascii=False))
    try:
        return json.loads(text)
    except ValueError:  # a mask that cut through JSON syntax: send the masked text instead
        return text


class Notifier:
    """POSTs one JSON body per notification: `{"text"}` for Slack-compatible receivers,
    `{"event", "text", "details"}` for generic ones. Every notification is also a log line,
    so nothing is lost when no URL is configured or the receiver is down."""

    def __init__(self, url: str | None, fmt: Literal["generic", "slack"] = "generic") -> None:
        self._url = url
        self._format = fmt

    def notify(self, event: str, text: str, details: Mapping[str, Any] | None = None) -> None:
        text = redact_text(text)
        log.info("notification", notification=event, text=text)
        if not self._url:
            return
        body: dict[str, Any] = {"text": text}
        if self._format == "generic":
            body = {"event": event, "text": text, "details": _redacted(details or {})}
        try:
            resp = requests.post(self._url, json=body, timeout=NOTIFY_TIMEOUT)
        except requests.RequestException as exc:
            log.warning(
                "notification not delivered",
                notification=event,
                error=redact_text(type(exc).__name__),
            )  # the exception text carries the URL, itself a secret
            return
        if resp.status_code >= 300:
            log.warning("notification refused", notification=event, status=resp.status_code)
