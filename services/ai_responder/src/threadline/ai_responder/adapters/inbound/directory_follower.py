"""Every business number and assistant, read from the session's events into the process's
`Directory` (the topology's `FOLLOWERS`): an ordered consumer per filter, from the start of
SESSION_EVENTS every time the process starts, kept up to date while it runs.

Ready once each follower has read what the stream held when it subscribed: until then a number's
assistant may not be known yet, so the responder waits (`caught_up`) before it answers."""

from __future__ import annotations

from datetime import timedelta

from nats.js import JetStreamContext

from threadline.ai_responder.domain.customer_data import collect_fields_from_json
from threadline.ai_responder.domain.directory import AssistantSettings, Directory
from threadline.ai_responder.domain.http_tools import http_tools_from_json
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.session_events_follower import SessionEventsFollower
from threadline.messaging.topology import FOLLOWERS, TOKEN_FOLLOWERS, Topology

SERVICE = "ai_responder"


class DirectoryFollower(SessionEventsFollower):
    """Follows the business numbers, assistants and flows into `directory`."""

    def __init__(self, js: JetStreamContext, topology: Topology, directory: Directory) -> None:
        super().__init__(
            js,
            topology,
            [f for f in FOLLOWERS if f.service == SERVICE and f not in TOKEN_FOLLOWERS],
            lambda event: apply(directory, event),
            what="business numbers and assistants",
            held=lambda: f"{len(directory.assistants())} assistants",
        )


def apply(directory: Directory, event: SessionEvent) -> None:
    """What one of the session's events says about numbers and assistants."""
    body = event.WhichOneof("body")
    number_id = event.aggregate_id
    if body == "business_number_registered":
        directory.number_registered(number_id, event.business_number_registered.phone_number_id)
    elif body == "autopilot_set":
        directory.autopilot_set(number_id, event.autopilot_set.enabled)
    elif body == "assistant_assigned":
        assigned = event.assistant_assigned
        directory.assistant_assigned(number_id, assigned.phone_number_id, assigned.assistant)
    elif body == "flow_configured":
        configured_flow = event.flow_configured
        directory.flows.flow_configured(configured_flow.version, configured_flow.definition_json)
    elif body == "assistant_configured":
        configured = event.assistant_configured
        directory.assistant_configured(
            AssistantSettings(
                name=configured.name,
                version=configured.version,
                model=configured.model,
                system_prompt=configured.system_prompt,
                language=configured.language,
                reply_delay=timedelta(seconds=max(0.0, configured.reply_delay_seconds)),
                max_context_tokens=(
                    configured.max_context_tokens or directory.default.max_context_tokens
                ),
                tools=tuple(configured.tools),
                http_tools=http_tools_from_json(configured.http_tools_json),
                knowledge_bases=tuple(configured.knowledge_bases),
                collect_fields=collect_fields_from_json(configured.collect_fields_json),
            )
        )
