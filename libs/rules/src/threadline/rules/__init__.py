"""Conversation rules shared by the session, analytics, the AI responder and the CLI: one rule,
one place (the conversation window and lifecycle, WhatsApp's limits, fields, flow definitions)."""
