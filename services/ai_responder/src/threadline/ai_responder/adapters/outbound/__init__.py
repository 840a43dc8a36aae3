"""What the AI responder calls: the language model, and AI_EVENTS for its answers."""
