"""What calls ingest (inbound: the webhook endpoint), what ingest calls (outbound: JetStream,
Prometheus), and the one mapping of its facts to integration events (`integration_events`)."""
