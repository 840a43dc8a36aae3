"""The AI responder: drafts replies to customer messages for the session to accept."""
