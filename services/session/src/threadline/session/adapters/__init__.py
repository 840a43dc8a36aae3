"""What connects the session to the world: `inbound` (what calls it: NATS consumers, gRPC),
`outbound` (what it calls: the event store, the relay's outbox), and `integration_events`
(the one mapping between the session's types and the protobuf integration events)."""
