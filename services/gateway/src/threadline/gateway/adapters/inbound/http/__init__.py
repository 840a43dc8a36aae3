"""The JSON-over-HTTP REST API (the seed documents') for callers that do not speak gRPC.

A thin translator. Each route reads its request strictly (`params`), makes one gRPC call
(`routes`) and shapes the reply as JSON (`shapes`); every refusal has one JSON shape
(`errors`). Reads go to analytics' `ConversationQueries` rather than to its database: the
proto is the stable contract, and the caller's token then meets exactly the same interceptor,
scoping, validation and error table as a gRPC caller's. Status changes go to the session's
`SessionCommands`. The HTTP `Authorization` header travels as gRPC metadata.
"""
