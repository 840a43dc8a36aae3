"""What outbound knows: a message the session queued, what WhatsApp needs to send it, and what
a failure to send means."""
