"""What calls the gateway: HTTP clients of the REST API (`http`)."""
