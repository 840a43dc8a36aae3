"""What outbound knows: a message the session queued, what WhatsApp needs to send it, what a
failure to send means, and a typing indicator the assistant asked for (and when it is too late
to show)."""
