"""What outbound calls: the Graph API, the sent ledger (a KeyValue bucket), OUTBOUND_EVENTS for
its announcements, and Prometheus."""
