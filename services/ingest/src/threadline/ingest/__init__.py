"""Ingest: receives signed WhatsApp webhooks and publishes one fact per message, status, error."""
