"""Structured logging with structlog (JSON in production, readable in a terminal) and the one
secret redactor; every module that prints, logs or stores text it did not write calls
`redact_text`, and providers/settings call `register_secret` for each credential they obtain.

Two nets, because an API may echo a credential in any shape. First, by value: every secret
the process holds (configured tokens, the GitHub App private key, issued Google access tokens
and GitHub installation tokens, keys read from Secret Manager) is registered the moment it is
obtained and masked wherever it appears, whatever it looks like (a classic 40-hex GitHub token
has no prefix a pattern could catch without masking every commit hash). Second, by shape: the
token formats GitHub and Google issue, for a credential this process never held. Every event
passes through `redact_secrets`, so a secret that slips into a log line is masked too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|private_key|authorization|credential)", re.I)
# Shapes GitHub and Google issue, and a credential after an authorization scheme. The bare
# word "token" is not a scheme: "token 1234-app.apps.example.com of a@example.co.jp revoked"
# names an OAuth client id, which auditors must be able to read.
_SECRET_VALUES = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|ya29\.[A-Za-z0-9_\-.]+"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*-----END [A-Z ]*PRIVATE KEY-----"
    r"|(?i:bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?(?:token|bearer|basic)?\s*)"
    r"[A-Za-z0-9_\-.+/=]{8,})"
)
REDACTED = "**********"

# Shorter values are not registered: masking a 3-character string everywhere would garble
# every message, and no credential GitHub or Google issues is that short.
MIN_SECRET_LENGTH = 8
# A multi-line secret (a PEM private key) may be echoed in part; each line this long is
# masked on its own too.
_MIN_SECRET_LINE = 16


class _SecretRegistry:
    """The values of every secret the process holds. Registration happens on whatever thread
    obtains a credential (google-auth refreshes tokens on the reading threads), so additions
    take a lock and rebuild one alternation pattern; `redact` reads the current pattern
    without locking (rebinding an attribute is atomic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        whole = value.strip()
        # An error body that quotes the secret in JSON has its newlines and quotes escaped.
        forms = {whole, json.dumps(whole)[1:-1]}
        if "\n" in whole:
            # Not the "-----BEGIN ... KEY-----" armour: it is the same in every key.
            forms.update(
                line.strip()
                for line in whole.splitlines()
                if len(line.strip()) >= _MIN_SECRET_LINE and not line.startswith("-----")
            )
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text


_registry = _SecretRegistry()


def register_secret(value: object) -> None:
    """Mask `value` in every later `redact_text` and log line. Call it where a credential is
    obtained, before it can reach any output. Accepts `SecretStr` (pydantic) and `None`."""
    if value is None:
        return
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
        return
    _registry.add(value)


def redact_text(text: str) -> str:
    """`text` with every registered secret and every known token shape masked."""
    # Shapes first: a whole PEM block is masked before the registry masks its lines one by one.
    return _registry.redact(_SECRET_VALUES.sub(REDACTED, text))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: a value under a secret-sounding key is dropped whole; every other
    string (nested in lists and dicts too) goes through `redact_text`."""
    for key, value in list(event.items()):
        if _SECRET_KEYS.search(key) and value is not None and key != "event":
            event[key] = REDACTED
        else:
            event[key] = _redact_value(value)
    return event


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Resolve sys.stderr at each use, not at configure time: test runners and the daemon
        # swap the stream, and a logger holding a closed one would crash the caller.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
