"""What the AI responder knows: a customer's message, the answers it may give, and when."""
