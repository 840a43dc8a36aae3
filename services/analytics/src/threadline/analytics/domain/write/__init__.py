"""The projection, pure: session events in, `Changes` to the read models out.

`projection.project` hands each event to its function in `projectors/`, which folds it into
`changes` (the rows and patches of `rows_and_patches`), priced with `rates`; `sanitise` makes
what PostgreSQL refuses storable before. The events are the session's published contract
(`SessionEvent`), read as they come: that contract is the language this projection is written
in, and converting millions of events into look-alike types first would only slow a replay.
"""
