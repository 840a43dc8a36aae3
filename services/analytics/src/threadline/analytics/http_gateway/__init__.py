"""The JSON-over-HTTP gateway: the seed documents' REST API for callers that do not speak gRPC.

A thin translator. Reads call `ConversationQueries` over gRPC on this process's own port
rather than the query objects directly: the proto is the stable contract (the Python query API
is free to change under it), and the caller's token then meets exactly the same interceptor,
scoping, validation and error table as a gRPC caller's. Status changes go to the session
service's `SessionCommands`. The HTTP `Authorization` header travels as gRPC metadata.
"""

from threadline.analytics.http_gateway.server import gateway_app, local_address, start_gateway

__all__ = ["gateway_app", "local_address", "start_gateway"]
