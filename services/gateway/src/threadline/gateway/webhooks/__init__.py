"""Outgoing webhooks (issue 13 item 5): session events turned into signed notifications POSTed
to the businesses' subscribed URLs (`delivery`), from what `notifications` reads in them."""
