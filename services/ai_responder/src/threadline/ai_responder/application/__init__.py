"""The AI responder's use case: answer a customer's message, through ports (model, replies)."""
