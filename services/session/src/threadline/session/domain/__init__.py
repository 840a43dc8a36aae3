"""Contacts and conversations as event-sourced aggregates, free of I/O."""
