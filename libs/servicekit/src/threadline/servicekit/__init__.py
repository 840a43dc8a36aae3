"""Shared plumbing for every Threadline service: config, logging, tracing, gRPC, ops HTTP."""
