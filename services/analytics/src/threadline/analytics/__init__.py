"""Analytics: projections of the session's events into read models, and queries over them."""
