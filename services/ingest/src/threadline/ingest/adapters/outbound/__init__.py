"""What ingest calls: JetStream (raw bodies, facts, dead letters) and Prometheus."""
