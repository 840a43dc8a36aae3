"""The analytics service's adapters: what calls it (`inbound`), what it calls (`outbound`), and
the one place it reads the session's integration events off NATS (`integration_events`)."""
