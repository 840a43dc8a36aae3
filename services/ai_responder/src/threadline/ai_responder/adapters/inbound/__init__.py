"""What calls the AI responder: the consumer of customer messages (`AI_RESPONDER_REPLIES`)."""
