"""What calls the AI responder (inbound) and what it calls (outbound), and the one mapping
between its own types and the integration events (`integration_events`)."""
