"""Deployment files checked without an engine: compose, the Dockerfile, the Kubernetes manifests."""
