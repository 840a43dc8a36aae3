"""The write side's use cases: session events into the read models, exactly once.

`live_projection` (`LiveProjection`) orders each delivered batch, fills gaps a stopped consumer
left, skips what is projected, folds the rest with the domain's pure `project` and commits the
changes with the projection's position through the `ProjectionStore` port (`ports`), one event
at a time when a batch fails. `rebuild/` replays the session's event log into fresh tables.
"""
