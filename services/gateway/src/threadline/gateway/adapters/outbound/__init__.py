"""What the gateway calls: the session's and analytics' gRPC APIs (`upstreams`)."""
