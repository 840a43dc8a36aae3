"""`threadline.analytics.v1` over gRPC: `ConversationQueries` (`conversation_queries`) and
`Metrics` (`metrics_api`), translating through `proto_mapping`, the one place the read side's
values meet protobuf."""
