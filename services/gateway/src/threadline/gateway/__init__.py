"""The HTTP JSON gateway: an edge adapter in front of the session and analytics gRPC APIs."""
