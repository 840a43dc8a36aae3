"""What calls ingest: WhatsApp, over HTTP (the webhook endpoint and its signature check)."""
