"""The HTTP JSON gateway: an edge adapter in front of the session and analytics gRPC APIs.

`bootstrap` builds it: `adapters/inbound/http` (the REST API) calls `adapters/outbound/upstreams`
(analytics' `ConversationQueries`, the session's `SessionCommands`). It holds no state.
"""
