"""Outbound's use cases, through ports: dispatch one queued message (Graph API, sent ledger,
announcements), and show one typing indicator (Graph API)."""
