"""The write side: session events from NATS into the read models, exactly once.

`consumer` (the NATS adapter, `ProjectionConsumer`) hands each batch to the pure `projection`
(`projectors/`, one function per event body), which folds it into `changes` (rows and patches,
`rows_and_patches`); `writer` applies them with `statements` in one transaction with the
projection's `positions`. `rebuild/` replays the session's event log into fresh tables.
"""
