"""The gateway is an edge adapter through and through: HTTP in (`inbound.http`), gRPC out
(`outbound.upstreams`); it holds no state and no rules of its own."""
