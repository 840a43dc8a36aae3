"""The analytics domain: pure rules and values, no I/O.

`write/` is the projection: what each session event means for the read models, folded into
row changes. `read/` holds the read side's values: what a query may ask (`criteria`), what it
answers (`views`, `window`) and why it may refuse (`errors`).
"""
