"""How a CLI command reports a refused gRPC call: one line naming the command and the code."""

from __future__ import annotations

from typing import TextIO

import grpc


def refused(command: str, error: grpc.RpcError, err: TextIO) -> int:
    """Write `threadline <command>: <CODE>: <details>` to `err`; the exit status (1)."""
    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    name = code.name if code is not None else "ERROR"
    err.write(f"threadline {command}: {name}: {details}\n")
    return 1
