"""Ingest's use case: accept a signed webhook body, keep it, publish its facts (through the
`WebhookPublisher` port)."""
