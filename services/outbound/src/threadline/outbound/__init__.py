"""The outbound service: sends accepted outbound messages to the WhatsApp Graph API, once."""
