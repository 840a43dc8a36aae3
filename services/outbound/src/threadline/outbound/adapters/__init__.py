"""What calls outbound (inbound), what outbound calls (outbound), and the one mapping between
its own types and the integration events (`integration_events`)."""
