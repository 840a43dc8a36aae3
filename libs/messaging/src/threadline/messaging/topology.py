"""Every stream, every published subject and every durable consumer: the one table.

Who publishes what and who consumes it is declared here and nowhere else (`ROUTES`,
`DURABLES`); services take their subjects from these tables through `Topology`, and a test
checks the table against what the running services actually publish and subscribe to. The
table is printed in docs/architecture.md (`python -m threadline.messaging.topology`).

The streams are the blueprint's, optionally under a namespace so tests never collide.

With the empty namespace the names are exactly the blueprint's (`SESSION_EVENTS`,
`session.events.>`); with namespace `t1` they become `t1_SESSION_EVENTS` and `t1.session.events.>`.

Every stream's limits are in one table, `STREAM_LIMITS`; each can be changed through the
environment (`THREADLINE_<STREAM>_MAX_BYTES`, `_MAX_AGE_HOURS`, `_MAX_MSG_SIZE`; 0 means no
limit), read by every service's config with `stream_limits_from_env`, so that all of them
bring the streams to the same configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from threadline.rules.partitions import SLOTS, conversation_slot, partition_of
from threadline.servicekit.config import ConfigError, env_bool, env_int

INGEST_RAW = "INGEST_RAW"
INGEST_EVENTS = "INGEST_EVENTS"
SESSION_EVENTS = "SESSION_EVENTS"
AI_EVENTS = "AI_EVENTS"
OUTBOUND_EVENTS = "OUTBOUND_EVENTS"
DEAD_LETTERS = "DEAD_LETTERS"

_SUBJECT_ROOTS = {
    INGEST_RAW: "ingest.raw",
    INGEST_EVENTS: "ingest.events",
    SESSION_EVENTS: "session.events",
    AI_EVENTS: "ai_responder.events",
    OUTBOUND_EVENTS: "outbound.events",
    DEAD_LETTERS: "dlq",
}
DUPLICATE_WINDOW = timedelta(minutes=10)
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How much a stream keeps; None is no limit (for `max_msg_size`: the server's
    `max_payload`, 1 MiB by default). When full, the oldest messages are discarded."""

    max_age: timedelta | None = None
    max_bytes: int | None = None
    max_msg_size: int | None = None
    # Copies kept by a NATS cluster (1 on a single server, which refuses more; 3 on the
    # production cluster: `THREADLINE_NATS_STREAM_REPLICAS`).
    replicas: int = 1


# The one table of limits. INGEST_RAW (every webhook body, kept for audit and replay) and
# DEAD_LETTERS (kept for an operator to inspect) are bounded by age and size: one hostile sender
# must not fill the disk. The event streams are not: consumers' positions and the relay's
# position live in them, and each message is bounded by its producer against `max_payload`.
STREAM_LIMITS: Mapping[str, StreamLimits] = {
    INGEST_RAW: StreamLimits(max_age=timedelta(days=7), max_bytes=1024 * MIB),
    INGEST_EVENTS: StreamLimits(),
    SESSION_EVENTS: StreamLimits(),
    AI_EVENTS: StreamLimits(),
    OUTBOUND_EVENTS: StreamLimits(),
    DEAD_LETTERS: StreamLimits(max_age=timedelta(days=30), max_bytes=256 * MIB),
}


REPLICAS_VARIABLE = "THREADLINE_NATS_STREAM_REPLICAS"
PARTITIONS_VARIABLE = "THREADLINE_SESSION_PARTITIONS"
NARROW_VARIABLE = "THREADLINE_NATS_NARROW_CONSUMERS"


def partitions_from_env(env: Mapping[str, str]) -> int:
    """How many partitions the session's facts are spread over (`THREADLINE_SESSION_PARTITIONS`,
    1 by default): every service that publishes them and the session must be given the same."""
    partitions = env_int(env, PARTITIONS_VARIABLE, 1)
    if not 1 <= partitions <= SLOTS:
        raise ConfigError(f"Config '{PARTITIONS_VARIABLE}' must be 1 to {SLOTS}, got {partitions}.")
    return partitions


def narrow_from_env(env: Mapping[str, str]) -> bool:
    """Whether consumers that need only some event types are bound to just those on servers
    that can (`THREADLINE_NATS_NARROW_CONSUMERS`, true by default; false: every consumer on
    its one filter, as on NATS before 2.10 — for comparing the two in a benchmark)."""
    return env_bool(env, NARROW_VARIABLE, True)


def stream_limits_from_env(env: Mapping[str, str]) -> Mapping[str, StreamLimits] | None:
    """`STREAM_LIMITS` with what the environment overrides, e.g.
    `THREADLINE_INGEST_RAW_MAX_BYTES=2147483648` or `THREADLINE_DEAD_LETTERS_MAX_AGE_HOURS=72`
    (0: no limit), and `THREADLINE_NATS_STREAM_REPLICAS` (1 to 5) for every stream; None when
    nothing is overridden (`Topology.limits` then decides). A malformed value fails the
    service's start, naming the variable."""
    replicas = env.get(REPLICAS_VARIABLE, "")
    if not replicas and not any(
        env.get(f"THREADLINE_{name}_{setting}", "")
        for name in STREAM_LIMITS
        for setting in ("MAX_BYTES", "MAX_AGE_HOURS", "MAX_MSG_SIZE")
    ):
        return None
    copies = env_int(env, REPLICAS_VARIABLE, 1)
    if not 1 <= copies <= 5:
        raise ConfigError(f"Config '{REPLICAS_VARIABLE}' must be 1 to 5, got {copies}.")
    table: dict[str, StreamLimits] = {}
    for name, limits in STREAM_LIMITS.items():
        limits = replace(limits, replicas=copies)
        prefix = f"THREADLINE_{name}_"
        values: dict[str, int | None] = {}
        for setting in ("MAX_BYTES", "MAX_AGE_HOURS", "MAX_MSG_SIZE"):
            variable = prefix + setting
            if env.get(variable, "") == "":
                continue
            value = env_int(env, variable)
            if value < 0:
                raise ConfigError(f"Config '{variable}' must be 0 (no limit) or more, got {value}.")
            values[setting] = value or None
        if "MAX_BYTES" in values:
            limits = replace(limits, max_bytes=values["MAX_BYTES"])
        if "MAX_AGE_HOURS" in values:
            hours = values["MAX_AGE_HOURS"]
            limits = replace(limits, max_age=timedelta(hours=hours) if hours else None)
        if "MAX_MSG_SIZE" in values:
            limits = replace(limits, max_msg_size=values["MAX_MSG_SIZE"])
        table[name] = limits
    return table


@dataclass(frozen=True, slots=True)
class Route:
    """A subject one service publishes: `<root of stream>.<pattern>`, where a `{name}` token
    is filled in at publish time (and matches any one token, `*`, in a filter)."""

    stream: str
    pattern: str
    publisher: str
    body: str  # what travels: the protobuf message, or a description

    @property
    def partitioned(self) -> bool:
        """Whether the subject names the session partition its fact belongs to."""
        return self.pattern.startswith("{partition}.")

    def fill(self, **tokens: str) -> str:
        """The pattern with its `{name}` tokens filled in."""
        return self.pattern.format(**tokens)

    @property
    def wildcard(self) -> str:
        """The pattern as a NATS filter: each `{name}` token becomes `*`."""
        return ".".join("*" if part.startswith("{") else part for part in self.pattern.split("."))


@dataclass(frozen=True, slots=True)
class Durable:
    """A durable consumer: `name` on `stream`, bound to what `filter` matches (`>`: all).

    `only`, when given, are the subjects it needs within `filter` (each under the stream's
    root, as `filter` is): a server that can filter on several subjects (NATS 2.10 and later)
    delivers just those; an older one delivers all of `filter`, and the service lets the rest by.
    """

    name: str
    service: str
    stream: str
    filter: str = ">"
    only: tuple[str, ...] = ()

    def in_partition(self, partition: int, partitions: int) -> Durable:
        """This consumer for one partition of the session's facts (`<name>-p<k>`, reading
        `<root>.<k>.>`, and of `only` what names a partition, `*.` becoming `<k>.`); itself
        when there is one partition (it reads everything, subjects without a partition token
        from before partitioning included)."""
        if partitions == 1:
            return self
        return replace(
            self,
            name=f"{self.name}-p{partition}",
            filter=f"{partition}.>",
            only=tuple(f"{partition}.{s[2:]}" for s in self.only if s.startswith("*.")),
        )


RAW_WEBHOOK = Route(INGEST_RAW, "{phone_number_id}", "ingest", "the webhook body as received")
INBOUND_MESSAGE_RECEIVED = Route(
    INGEST_EVENTS,
    "{partition}.{phone_number_id}.InboundMessageReceived",
    "ingest",
    "InboundMessageReceived",
)
MESSAGE_STATUS_REPORTED = Route(
    INGEST_EVENTS,
    "{partition}.{phone_number_id}.MessageStatusReported",
    "ingest; outbound (the test chat's)",
    "MessageStatusReported",
)
WEBHOOK_ERROR_REPORTED = Route(
    INGEST_EVENTS,
    "{partition}.{phone_number_id}.WebhookErrorReported",
    "ingest",
    "WebhookErrorReported",
)
SESSION_EVENT = Route(SESSION_EVENTS, "{aggregate}.{event}", "session", "SessionEvent")
UNREADABLE_SESSION_EVENT = Route(
    SESSION_EVENTS, "Unreadable", "session", "SessionEvent without a body (unreadable record)"
)
REPLY_DRAFTED = Route(
    AI_EVENTS, "{partition}.Conversation.ReplyDrafted", "ai_responder", "ReplyDrafted"
)
HAND_OFF_REQUESTED = Route(
    AI_EVENTS, "{partition}.Conversation.HandOffRequested", "ai_responder", "HandOffRequested"
)
FLOW_STEP_REACHED = Route(
    AI_EVENTS, "{partition}.Conversation.FlowStepReached", "ai_responder", "FlowStepReached"
)
GENERATION_DISCARDED = Route(
    AI_EVENTS, "{partition}.Conversation.GenerationDiscarded", "ai_responder", "GenerationDiscarded"
)
TRANSCRIPT_READY = Route(
    AI_EVENTS, "{partition}.Conversation.TranscriptReady", "ai_responder", "TranscriptReady"
)
TRANSCRIPTION_FAILED = Route(
    AI_EVENTS, "{partition}.Conversation.TranscriptionFailed", "ai_responder", "TranscriptionFailed"
)
TOOL_CALLED = Route(AI_EVENTS, "{partition}.Conversation.ToolCalled", "ai_responder", "ToolCalled")
CUSTOMER_DATA_COLLECTED = Route(
    AI_EVENTS,
    "{partition}.Conversation.CustomerDataCollected",
    "ai_responder",
    "CustomerDataCollected",
)
TYPING_INDICATOR_REQUESTED = Route(
    AI_EVENTS,
    "{partition}.Conversation.TypingIndicatorRequested",
    "ai_responder",
    "TypingIndicatorRequested (read receipt + typing indicator; not recorded by the session)",
)
MESSAGE_DISPATCHED = Route(
    OUTBOUND_EVENTS, "{partition}.Message.Dispatched", "outbound", "MessageDispatched"
)
MESSAGE_DISPATCH_FAILED = Route(
    OUTBOUND_EVENTS, "{partition}.Message.DispatchFailed", "outbound", "MessageDispatchFailed"
)
MEDIA_KEPT = Route(OUTBOUND_EVENTS, "{partition}.Media.Kept", "outbound", "MediaKept")
MEDIA_KEEP_FAILED = Route(
    OUTBOUND_EVENTS, "{partition}.Media.KeepFailed", "outbound", "MediaKeepFailed"
)
DEAD_LETTER = Route(
    DEAD_LETTERS, "{service}.{reason}", "every service", "the message, with its reason in headers"
)

# Every published subject.
ROUTES: tuple[Route, ...] = (
    RAW_WEBHOOK,
    INBOUND_MESSAGE_RECEIVED,
    MESSAGE_STATUS_REPORTED,
    WEBHOOK_ERROR_REPORTED,
    SESSION_EVENT,
    UNREADABLE_SESSION_EVENT,
    REPLY_DRAFTED,
    HAND_OFF_REQUESTED,
    FLOW_STEP_REACHED,
    GENERATION_DISCARDED,
    TRANSCRIPT_READY,
    TRANSCRIPTION_FAILED,
    TOOL_CALLED,
    CUSTOMER_DATA_COLLECTED,
    TYPING_INDICATOR_REQUESTED,
    MESSAGE_DISPATCHED,
    MESSAGE_DISPATCH_FAILED,
    MEDIA_KEPT,
    MEDIA_KEEP_FAILED,
    DEAD_LETTER,
)

# Every durable consumer. The session records the facts of the three upstream streams; the
# others follow the session's events. A consumer that needs several event types names them in
# `only`: NATS 2.10 and later deliver just those (`filter_subjects`); NATS before 2.10 (the CI
# machine runs 2.9) knows one filter per consumer, so there it takes all of `filter` and lets
# the others by. Three quarters of the session's events are message statuses, which only
# analytics reads: narrowed, the AI responder and the gateway never receive them.
SESSION = "session"  # the one service whose consumers are partitioned
SESSION_INGEST = Durable("session-ingest", "session", INGEST_EVENTS)
# Every fact of the AI responder but the typing indicator, which is for outbound alone (one a
# burst): each in any partition, and without one as published before partitioning.
SESSION_RECORDS_OF_AI = tuple(
    route.pattern.removeprefix("{partition}.")
    for route in ROUTES
    if route.stream == AI_EVENTS and route is not TYPING_INDICATOR_REQUESTED
)
SESSION_DRAFTS = Durable(
    "session-drafts",
    "session",
    AI_EVENTS,
    only=(
        *(f"*.{subject}" for subject in SESSION_RECORDS_OF_AI),
        *SESSION_RECORDS_OF_AI,
    ),
)
SESSION_DISPATCHES = Durable("session-dispatches", "session", OUTBOUND_EVENTS)
# The AI responder's view of conversations (issue 10), and the customer messages it answers.
AI_RESPONDER_FOLLOWS = (
    "Started",
    "CustomerMessageReceived",
    "OutboundMessageQueued",
    "StatusChanged",
    "HandedOff",
    "AutopilotResumed",
    "AutoResolved",
    "AttachmentStored",
    "AttachmentFailed",
    "TranscriptRecorded",
    "TranscriptMissing",
)
AI_RESPONDER_REPLIES = Durable(
    "ai_responder-replies",
    "ai_responder",
    SESSION_EVENTS,
    "Conversation.>",
    only=tuple(f"Conversation.{event}" for event in AI_RESPONDER_FOLLOWS),
)
OUTBOUND_DISPATCH = Durable(
    "outbound-dispatch", "outbound", SESSION_EVENTS, "Conversation.OutboundMessageQueued"
)
OUTBOUND_TYPING = Durable(
    "outbound-typing", "outbound", AI_EVENTS, "*.Conversation.TypingIndicatorRequested"
)
# Customers' media fetched from the Graph API and kept (issue 11).
OUTBOUND_MEDIA = Durable(
    "outbound-media", "outbound", SESSION_EVENTS, "Conversation.CustomerMessageReceived"
)
ANALYTICS_PROJECTIONS = Durable("analytics-projections", "analytics", SESSION_EVENTS)
# Outgoing webhooks (issue 13 item 5): the gateway turns the session's events into
# notifications; it needs subscriptions and some conversation events.
GATEWAY_WEBHOOKS = Durable(
    "gateway-webhooks",
    "gateway",
    SESSION_EVENTS,
    only=(
        "WebhookSubscription.>",
        "Conversation.Started",
        "Conversation.CustomerMessageReceived",
        "Conversation.OutboundMessageQueued",
        "Conversation.StatusChanged",
        "Conversation.HandedOff",
        "Conversation.AutoResolved",
    ),
)

DURABLES: tuple[Durable, ...] = (
    SESSION_INGEST,
    SESSION_DRAFTS,
    SESSION_DISPATCHES,
    AI_RESPONDER_REPLIES,
    OUTBOUND_DISPATCH,
    OUTBOUND_TYPING,
    OUTBOUND_MEDIA,
    ANALYTICS_PROJECTIONS,
    GATEWAY_WEBHOOKS,
)


@dataclass(frozen=True, slots=True)
class Follower:
    """An ordered consumer without a durable name: each process of `service` reads everything
    `filter` matches on `stream` from the start, every time it starts, and keeps what it read in
    memory (small, rarely changing configuration: business numbers, assistants)."""

    service: str
    stream: str
    filter: str


# Every process that checks bearer tokens on its gRPC server knows the session's managed API
# tokens (issue 13; `threadline.messaging.token_follower`). The gateway checks none itself.
TOKEN_FOLLOWERS: tuple[Follower, ...] = tuple(
    Follower(service, SESSION_EVENTS, "ApiToken.>")
    for service in ("session", "analytics", "ai_responder")
)

# Every process of the AI responder knows every business number and assistant.
FOLLOWERS: tuple[Follower, ...] = (
    Follower("ai_responder", SESSION_EVENTS, "BusinessNumber.>"),
    Follower("ai_responder", SESSION_EVENTS, "Assistant.>"),
    Follower("ai_responder", SESSION_EVENTS, "Flow.>"),
    *TOKEN_FOLLOWERS,
)


def durables_of(service: str, partitions: int = 1) -> tuple[Durable, ...]:
    """The durable consumers `service` runs (the session's: those of every partition, when
    its facts are in `partitions` partitions)."""
    return tuple(
        durable.in_partition(k, partitions) if durable.service == SESSION else durable
        for durable in DURABLES
        if durable.service == service
        for k in range(partitions if durable.service == SESSION else 1)
    )


class UnpartitionedPublish(ValueError):
    """A partitioned route published without the slot that says whose fact it is."""


@dataclass(frozen=True, slots=True)
class Topology:
    """Names of streams and subjects, under an optional namespace; `partitions`: how many
    partitions the session's facts are spread over (`THREADLINE_SESSION_PARTITIONS`, the same
    for every service)."""

    namespace: str = ""
    partitions: int = 1
    narrow: bool = True  # consumers bound to what they need, where the server can

    def __post_init__(self) -> None:
        if not 1 <= self.partitions <= SLOTS:
            raise ValueError(f"partitions must be 1 to {SLOTS}, got {self.partitions}")

    def stream(self, name: str) -> str:
        return f"{self.namespace}_{name}" if self.namespace else name

    def subject(self, *parts: str) -> str:
        """`subject("session.events", "Conversation", "Started")` → namespaced subject."""
        body = ".".join(parts)
        return f"{self.namespace}.{body}" if self.namespace else body

    def root(self, stream: str) -> str:
        return self.subject(_SUBJECT_ROOTS[stream])

    def dead_letter_subject(self, service: str, reason: str) -> str:
        return self.publish_subject(DEAD_LETTER, service=service, reason=reason)

    def publish_subject(self, route: Route, *, slot: int | None = None, **tokens: str) -> str:
        """The subject to publish `route` on, e.g.
        `publish_subject(INBOUND_MESSAGE_RECEIVED, slot=17, phone_number_id="1234")`.

        A route of the session's facts (`{partition}`) needs the customer's `slot`
        (`threadline.rules.partitions`) once there is more than one partition."""
        if route.partitioned:
            if slot is None and self.partitions > 1:
                raise UnpartitionedPublish(f"{route.pattern} needs the customer's slot")
            tokens["partition"] = str(partition_of(slot or 0, self.partitions))
        elif route.stream == SESSION_EVENTS and self.partitions > 1:
            # The session's events name the partition whose relay published them only once
            # there are several (with one, every subject stays the blueprint's).
            if slot is None:
                raise UnpartitionedPublish(f"{route.pattern} needs its aggregate's slot")
            partition = partition_of(slot, self.partitions)
            return f"{self.root(route.stream)}.{partition}.{route.fill(**tokens)}"
        return f"{self.root(route.stream)}.{route.fill(**tokens)}"

    def conversation_subject(self, route: Route, conversation_id: str, **tokens: str) -> str:
        """The subject of a fact about `conversation_id`, in its session partition (its id
        carries its customer's slot: `threadline.rules.partitions`)."""
        return self.publish_subject(route, slot=conversation_slot(conversation_id), **tokens)

    def stream_filter(self, stream: str) -> str:
        """A filter matching every subject of `stream`."""
        return f"{self.root(stream)}.>"

    def route_filter(self, route: Route) -> str:
        """A filter matching every subject of `route`."""
        return self._within(route.stream, route.wildcard)

    def filter_subject(self, consumer: Durable | Follower) -> str:
        """The namespaced filter subject of `consumer`."""
        return self._within(consumer.stream, consumer.filter)

    def session_filter(self, pattern: str) -> str:
        """A filter on SESSION_EVENTS matching `pattern` (e.g. `Conversation.>`) in every
        partition."""
        return self._within(SESSION_EVENTS, pattern)

    def relayed_in(self, partition: int) -> str:
        """A filter matching what the relay of `partition` publishes on SESSION_EVENTS (with
        one partition: everything)."""
        if self.partitions == 1:
            return self.stream_filter(SESSION_EVENTS)
        return f"{self.root(SESSION_EVENTS)}.{partition}.>"

    def _within(self, stream: str, pattern: str) -> str:
        """`pattern` under `stream`'s root; on SESSION_EVENTS with several partitions, after
        the partition token, in any partition."""
        if stream == SESSION_EVENTS and self.partitions > 1:
            return f"{self.root(stream)}.*.{pattern}"
        return f"{self.root(stream)}.{pattern}"

    def narrowed(self, durable: Durable) -> tuple[str, ...]:
        """The namespaced subjects `durable` needs (`only`) where a server filters on several;
        empty when it takes all of its filter (no `only`, or consumers are not narrowed)."""
        if not self.narrow:
            return ()
        return tuple(self._within(durable.stream, subject) for subject in durable.only)

    def filter_subjects(self, durable: Durable, *, several: bool) -> tuple[str, ...]:
        """The namespaced subjects `durable` is bound to: those it needs on a server that
        filters on `several`, else its one filter."""
        return (several and self.narrowed(durable)) or (self.filter_subject(durable),)

    def limits(
        self, configured: Mapping[str, StreamLimits] | None = None
    ) -> Mapping[str, StreamLimits]:
        """The limits the streams get: `configured`, else `STREAM_LIMITS` — without byte limits
        under a namespace. NATS reserves a stream's `max_bytes` against the server's storage
        when the stream is made, and namespaces are for tests, hundreds of which share one
        server: their reservations would soon exhaust it."""
        if configured is not None:
            return configured
        if not self.namespace:
            return STREAM_LIMITS
        return {name: replace(limits, max_bytes=None) for name, limits in STREAM_LIMITS.items()}

    def stream_configs(
        self, limits: Mapping[str, StreamLimits] | None = None
    ) -> list[StreamConfig]:
        table = self.limits(limits)
        return [_config(self, name, table.get(name, StreamLimits())) for name in _SUBJECT_ROOTS]


def _config(topology: Topology, name: str, limits: StreamLimits) -> StreamConfig:
    return StreamConfig(
        name=topology.stream(name),
        subjects=[topology.stream_filter(name)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        # -1 is "no limit" to the server; an update must say so to lift an earlier limit.
        max_age=limits.max_age.total_seconds() if limits.max_age else 0,
        max_bytes=limits.max_bytes or -1,
        max_msg_size=limits.max_msg_size or -1,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        num_replicas=limits.replicas,
    )


async def ensure_streams(
    js: JetStreamContext, topology: Topology, limits: Mapping[str, StreamLimits] | None = None
) -> None:
    """Create the streams, or bring their configuration up to date; safe to call repeatedly."""
    for config in topology.stream_configs(limits):
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                # Another process created it between our look-up and our create.
                await js.update_stream(config)
        else:
            await js.update_stream(config)


def describe() -> str:
    """The table as Markdown, for docs/architecture.md."""
    lines = [
        "| stream | subjects | limits |",
        "|---|---|---|",
    ]
    for name, root in _SUBJECT_ROOTS.items():
        limits = STREAM_LIMITS[name]
        shown = [
            f"max age {limits.max_age.days} days" if limits.max_age else "",
            f"max {limits.max_bytes // MIB} MiB" if limits.max_bytes else "",
        ]
        lines.append(f"| `{name}` | `{root}.>` | {', '.join(s for s in shown if s) or '-'} |")
    lines += ["", "| publisher | subject | carries |", "|---|---|---|"]
    for route in ROUTES:
        subject = f"{_SUBJECT_ROOTS[route.stream]}.{route.pattern}"
        lines.append(f"| {route.publisher} | `{subject}` | {route.body} |")
    lines += ["", "| durable consumer | service | stream | filter |", "|---|---|---|---|"]
    for durable in DURABLES:
        subject = f"`{_SUBJECT_ROOTS[durable.stream]}.{durable.filter}`"
        if durable.only:
            subject += " (NATS 2.10+: only " + ", ".join(f"`{o}`" for o in durable.only) + ")"
        lines.append(f"| `{durable.name}` | {durable.service} | `{durable.stream}` | {subject} |")
    for follower in FOLLOWERS:
        subject = f"{_SUBJECT_ROOTS[follower.stream]}.{follower.filter}"
        lines.append(
            f"| (ordered, per process) | {follower.service} | `{follower.stream}` | `{subject}` |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
