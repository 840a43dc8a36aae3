"""The read side's use cases: what a caller may read of the read models.

`queries` (conversations, messages, a customer's window), `conversation_metrics` (response
rate, response times, costs), `export` (CSV or JSON Lines, `export_formats`). They are SQL over
the service's own read models, and they keep it with them: a CQRS read side's use cases are
its queries, and a port in front of each would only pass the same arguments through. The
domain's `criteria` validates what they are asked, `filter_sql` turns it into SQL, `columns`
reads rows into the domain's `views`, the frozen values they answer with.
"""
