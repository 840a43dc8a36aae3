"""What calls the analytics service: NATS delivers session events to the projection
(`projection_consumer`), callers query the read models over gRPC (`grpc`)."""
