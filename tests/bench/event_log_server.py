"""The session's `EventLog` gRPC service alone, in a process of its own, over a recorded log.

What `threadline replay` reads in production is the session service's EventLog; the rebuild
benchmark serves the same servicer (`EventLogServicer` of
`threadline.session.adapters.inbound.grpc_api`, with the same token guard) without the
session's consumers and relay, which would only compete for the two cores. Run as
`python -m tests.bench.event_log_server DATABASE_URL PORT TOKEN`.
"""

from __future__ import annotations

import asyncio
import sys

from tests.bench.event_log import session_app
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.session.adapters.inbound.grpc_api import ERRORS, EventLogServicer


async def serve(database_url: str, port: int, token: str) -> None:
    app = session_app(database_url)
    server, _ = await start_grpc_server(
        host="127.0.0.1",
        port=port,
        registrations=[
            Registration(
                pb_grpc.add_EventLogServicer_to_server,
                EventLogServicer(app),
                "threadline.session.v1.EventLog",
            )
        ],
        tokens=TokenRegistry.parse(f"{hash_token(token)}:read:*"),
        errors=ERRORS,
    )
    try:
        await server.wait_for_termination()
    finally:
        app.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
