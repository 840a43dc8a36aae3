"""What calls the analytics service (`inbound`)."""
