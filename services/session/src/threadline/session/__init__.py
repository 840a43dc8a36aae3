"""The session service: the only writer of the truth (contacts and conversations)."""
