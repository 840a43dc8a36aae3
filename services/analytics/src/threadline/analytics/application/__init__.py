"""The analytics use cases, the write side (`write/`: the live projection and the rebuild)
apart from the read side (`read/`: queries, metrics, exports)."""
