"""Outbound's use case: dispatch one queued message, through ports (Graph API, sent ledger,
announcements)."""
