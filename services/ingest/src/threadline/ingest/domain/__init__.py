"""What a WhatsApp webhook means: its facts (messages, statuses, errors), the bounds every value
is kept within, and what is rejected or ignored and why. Pure: no I/O, no protobuf."""
