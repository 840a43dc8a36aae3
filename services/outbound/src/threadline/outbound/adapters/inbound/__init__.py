"""What calls outbound: the dispatch consumer of queued messages (`OUTBOUND_DISPATCH`) and the
typing consumer of typing indicators (`OUTBOUND_TYPING`)."""
