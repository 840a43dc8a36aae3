"""`threadline flows apply FILE.yaml` and `threadline flows list`: a business's flows,
configured like `kubectl apply` through the session's gRPC API (ConfigureFlow / ListFlows).

A flow file is the definition `threadline.rules.flow_definition` reads (see
`examples/salon/booking-flow.yaml`): it is checked here with the same parser the session and the
AI responder use, so a mistake is named by its path before anything is sent
(`steps[2].next: unknown step 'confirm'`), and the file's text goes to the session, which
checks it again and keeps it as canonical JSON: applying an unchanged file changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import grpc

from threadline.cli.columns import columns
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.refusals import refused
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.rules.fields import DefinitionError
from threadline.rules.flow_files import read_flow
from threadline.servicekit.config import ConfigError

TIMEOUT = 10.0


def read_flow_file(path: Path) -> pb.ConfigureFlowRequest:
    """The request a flow file makes, once the file reads as a flow; `DefinitionError` naming
    the file and the path in it otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DefinitionError(str(path), f"cannot be read: {error}") from None
    try:
        read_flow(text)
    except DefinitionError as error:
        where = f"{path}: {error.path}" if error.path else str(path)
        raise DefinitionError(where, error.problem) from None
    return pb.ConfigureFlowRequest(definition=text)


def apply_flow(
    endpoint: SessionEndpoint, path: Path, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Create or update the flow of `path`; 0 when the session took it (or had it already)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        request = read_flow_file(path)
    except DefinitionError as error:
        err.write(f"threadline flows apply: {error}\n")
        return 2
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.SessionCommandsStub(channel).ConfigureFlow(
                request, metadata=metadata, timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused("flows apply", error, err)
    verb = "created" if response.created else "updated" if response.changed else "unchanged"
    out.write(f"{verb} {response.flow.id} v{response.flow.version}\n")
    return 0


def list_flows(
    endpoint: SessionEndpoint, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.SessionCommandsStub(channel).ListFlows(
                pb.ListFlowsRequest(), metadata=metadata, timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused("flows list", error, err)
    out.write(table(response.flows))
    return 0


def table(flows: Any) -> str:
    """One row a flow: id, version, the definition's own version, triggers, numbers, name."""
    header = ("ID", "VERSION", "DEFINITION", "TRIGGERS", "NUMBERS", "NAME")
    rows = [header]
    for flow in flows:
        rows.append(
            (
                flow.id,
                f"v{flow.version}",
                str(flow.definition_version),
                ",".join(flow.trigger_kinds) or "-",
                ",".join(flow.business_numbers) or "all",
                flow.name,
            )
        )
    if len(rows) == 1:
        return "no flows\n"
    return columns(rows)


def run(command: str, file: str | None, env: Mapping[str, str]) -> int:
    """`threadline flows <command>`; a setting found nowhere is a ConfigError."""
    endpoint = SessionEndpoint.resolve(env)
    if command == "apply":
        if file is None:
            raise ConfigError("threadline flows apply needs a FILE.yaml")
        return apply_flow(endpoint, Path(file))
    return list_flows(endpoint)
