"""What the session calls: the PostgreSQL event store (its writer thread, its records read back
quickly) and the notification log read as the relay's outbox."""
