"""How a CLI command reports a refused gRPC call: one line naming the command and the code."""

from __future__ import annotations

from typing import TextIO

import grpc

from threadline.cli.failures import explain


def refused(command: str, error: grpc.RpcError, err: TextIO) -> int:
    """Write `threadline <command>: <CODE>: <details>` to `err` (one line); the exit status."""
    failure = explain(error)
    assert failure is not None  # every RpcError is explained
    err.write(f"threadline {command}: {failure.line}\n")
    return failure.status
