"""The one place mapping between the session's types and protobuf integration events: facts
from ingest, ai_responder and outbound in (`incoming_facts`), stored events out as
`SessionEvent`s (`session_events`, with each body in `event_bodies`)."""
