"""Code generated from protos/ (run `make protos`)."""
