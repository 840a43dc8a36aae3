"""The read side: what a caller may read of the read models.

`queries` (conversations, messages, a customer's window), `conversation_metrics` (response
rate, response times, costs), `export` (CSV or JSON Lines); `criteria` validates what they are
asked and `filter_sql` turns it into SQL; `views` are the frozen values they answer with.
"""
