"""NATS JetStream topology, publishing, consuming and the outbox relay."""
