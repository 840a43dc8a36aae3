"""What calls outbound: the dispatch consumer of queued messages (`OUTBOUND_DISPATCH`)."""
