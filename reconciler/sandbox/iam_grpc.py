"""Placeholder: IAM Admin v1 gRPC server, filled in by its owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox


@dataclass
class GrpcServer:
    port: int

    def stop(self) -> None:
        pass


def serve(app: Sandbox, host: str, port: int) -> GrpcServer:
    return GrpcServer(port=port)
