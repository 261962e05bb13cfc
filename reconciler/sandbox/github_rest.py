"""Placeholder: routes are added by the module's owner."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox


def register(app: Sandbox) -> None:
    """Register this API's routes on the sandbox."""
