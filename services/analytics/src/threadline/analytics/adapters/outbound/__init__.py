"""What the analytics service calls: its read models in PostgreSQL (`read_models`), the
SESSION_EVENTS stream (`session_events_stream`), the session's event log
(`session_event_log`) and the metrics it exports (`prometheus`)."""
