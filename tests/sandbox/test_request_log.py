"""The sandbox's request log never shows secrets sent by clients."""

from __future__ import annotations

import requests

from reconciler.sandbox.server import SandboxServer


def test_request_log_redacts_passwords_in_json_bodies(sandbox: SandboxServer) -> None:
    requests.post(
        f"{sandbox.url}/nowhere",
        json={"primaryEmail": "new.hire@example.co.jp", "password": "S3cret-pass-xyz"},
        timeout=5,
    )
    log = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).text
    assert "S3cret-pass-xyz" not in log
    assert "new.hire@example.co.jp" in log
