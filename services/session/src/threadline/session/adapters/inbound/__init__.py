"""What calls the session: the NATS consumers of upstream facts and the gRPC API."""
