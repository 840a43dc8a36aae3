"""The gRPC APIs callers query the read models through (`grpc`)."""
