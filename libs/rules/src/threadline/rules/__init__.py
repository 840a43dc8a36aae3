"""Conversation rules shared by the session and analytics: one rule, one place."""
