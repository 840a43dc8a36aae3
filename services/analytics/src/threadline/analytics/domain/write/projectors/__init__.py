"""One module per concept: what each session event means for the read models."""
