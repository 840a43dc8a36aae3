"""The exact agreements a chaos run must end with, each a row of the summary table.

Expected replies: the offline assistant answers each burst of a customer's messages once (a
redelivered message joins the burst it is already in) unless the message is stale (older than
an hour: ours carry the current time) or asks for a person (ours never do); the session queues
every draft of an open conversation with autopilot on. So each customer message is answered by
exactly one reply (named in the reply's `covered_message_ids`), however the messages were
grouped into bursts: the rows below count messages answered, and replies by their ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from tests.chaos.faults import Fault
from tests.chaos.load import LoadFigures
from tests.chaos.truth import EventLogFacts, JetStreamFacts, ReadModelFacts
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.sandbox.outbox import AcceptedMessage


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    expected: int | str
    actual: int | str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def _twice(values: Iterable[str]) -> list[str]:
    return [value for value, n in Counter(values).items() if n > 1]


def _differences(expected: Collection[str], actual: Iterable[str], what: str) -> str:
    """'' when `actual` holds exactly the `expected` values once each, else what is off."""
    seen = list(actual)
    missing = set(expected) - set(seen)
    extra = set(seen) - set(expected)
    twice = _twice(seen)
    parts = []
    if missing:
        parts.append(f"{len(missing)} {what} missing, e.g. {sorted(missing)[:3]}")
    if extra:
        parts.append(f"{len(extra)} unexpected, e.g. {sorted(extra)[:3]}")
    if twice:
        parts.append(f"{len(twice)} twice, e.g. {sorted(twice)[:3]}")
    return "; ".join(parts)


def _exact(name: str, expected: Collection[str], actual: Iterable[str], what: str) -> Check:
    seen = list(actual)
    detail = _differences(expected, seen, what)
    # A row only agrees when the values are the expected ones, each once.
    return Check(name, len(expected), len(seen) if not detail else f"{len(seen)} (!)", detail)


def covered(queued: events_pb.OutboundMessageQueued) -> list[str]:
    """The customer messages a queued reply answers (a burst; the one it replies to for a
    reply recorded without the list)."""
    return list(queued.covered_message_ids) or [queued.in_reply_to_message_id]


def answers_by_wamid(log: EventLogFacts, load: LoadFigures) -> dict[str, list[str]]:
    """The wamid of every reply the session recorded as dispatched → the customer messages it
    answers (`<wa_id>/<tag>` each), followed through the event store: dispatch → queued reply →
    customer messages → the tags those messages were sent with."""
    customer_wamid = {r.message_id: r.wamid for r in log.received}
    answered = {q.message_id: covered(q) for q in log.queued}
    answers = {}
    for dispatched in log.dispatched:
        tags = []
        for message_id in answered.get(dispatched.message_id, [""]):
            sent = load.sent.get(customer_wamid.get(message_id, ""))
            tags.append(f"{sent.wa_id}/{sent.tag}" if sent else f"unknown:{dispatched.message_id}")
        answers[dispatched.wamid] = tags
    return answers


def reply_tags(message: AcceptedMessage, answers: dict[str, list[str]]) -> list[str]:
    """The customer messages a reply at the sandbox answers; a send the session never recorded
    (its wamid is in no dispatch) cannot be traced to any and is named as unrecorded."""
    return answers.get(message.wamid) or [f"{message.to}/unrecorded:{message.wamid[-12:]}"]


# Outbound's one window it cannot close: SIGKILLed after Meta's 200, before the sent-ledger
# write (milliseconds later). An answer sent twice whose first send came at most this long
# before an outbound kill is reported as that, and not counted as a mismatch; any other is.
# A request already written to the socket still reaches Meta after the kill: a send accepted
# up to `IN_FLIGHT` after it is in the same window.
CRASH_WINDOW = timedelta(seconds=1)
IN_FLIGHT = timedelta(milliseconds=200)


def in_outbound_crash_window(
    sandbox: list[AcceptedMessage], faults: Sequence[Fault], answers: dict[str, list[str]]
) -> set[str]:
    """The sends the session never recorded that came just before an outbound kill: outbound
    was SIGKILLed after Meta's 200 and before its sent-ledger write, so it sent the reply again
    when it came back (and that second send is the one recorded)."""
    kills = [f.killed_wall for f in faults if f.target == "outbound"]
    return {
        m.wamid
        for m in sandbox
        if m.wamid not in answers
        and any(-IN_FLIGHT <= kill - m.accepted_at <= CRASH_WINDOW for kill in kills)
    }


def compare(
    *,
    customers: int,
    load: LoadFigures,
    log: EventLogFacts,
    models: ReadModelFacts,
    sandbox: list[AcceptedMessage],
    stream: JetStreamFacts,
    faults: Sequence[Fault] = (),
) -> list[Check]:
    answers = answers_by_wamid(log, load)
    # Of an answer sent twice in that window, the send the session recorded is the one kept.
    explained = in_outbound_crash_window(sandbox, faults, answers)
    sandbox = [m for m in sandbox if m.wamid not in explained]
    sent_wamids = set(load.sent)
    sent_tags = {f"{m.wa_id}/{m.tag}" for m in load.sent.values()}
    n = len(sent_wamids)
    received_ids = {m.message_id for m in log.received}
    ai_queued = [q for q in log.queued if q.author == "ai"]
    queued_ids = {q.message_id for q in ai_queued}
    dispatched_wamids = {d.wamid for d in log.dispatched}
    ai_rows = [row for row in models.reply_rows if row[4] == "ai"]
    not_read = sorted(m for m in queued_ids if log.status_of.get(m) != "read")
    relayed = stream.relayed_positions
    out_of_order = [
        f"stream seq {seq + 1} holds position {now} after {before}"
        for seq, (before, now) in enumerate(pairwise(relayed), start=1)
        if now <= before
    ]
    names_differ = [
        contact
        for contact, name in log.name_of.items()
        if models.contact_names.get(contact) != name
    ]
    status_differs = [row[0] for row in ai_rows if row[3] != log.status_of.get(row[0], "queued")]
    return [
        Check(
            "webhook deliveries answered 200",
            load.deliveries,
            load.accepted,
            f"{load.undelivered} never got a 200" if load.undelivered else "",
        ),
        # The session's event store (EventLog).
        _exact(
            "event store: customer messages (by wamid)",
            sent_wamids,
            (m.wamid for m in log.received),
            "sent messages",
        ),
        _exact(
            "event store: customer messages answered by AI replies",
            received_ids,
            (message_id for q in ai_queued for message_id in covered(q)),
            "answers",
        ),
        _exact(
            "event store: replies dispatched (by reply id)",
            queued_ids,
            (d.message_id for d in log.dispatched),
            "dispatches",
        ),
        Check(
            "event store: dispatch failures",
            0,
            len(log.failed),
            "; ".join(f"{f.message_id}: {f.error.title}" for f in log.failed[:3]),
        ),
        Check(
            "event store: replies whose last status is read",
            len(queued_ids),
            len(queued_ids) - len(not_read),
            f"not read, e.g. {not_read[:3]}" if not_read else "",
        ),
        Check("event store: conversations started", customers, log.conversations),
        Check("event store: contacts registered", customers, log.contacts),
        # The relay: SESSION_EVENTS is the event store, once each, in order.
        _exact(
            "SESSION_EVENTS: stored events relayed (by position)",
            {str(p) for p in log.positions},
            (str(p) for p in relayed),
            "events",
        ),
        Check(
            "SESSION_EVENTS: messages out of position order",
            0,
            len(out_of_order),
            "; ".join(out_of_order[:3]),
        ),
        # What Meta (the sandbox) received.
        _exact(
            "sandbox: replies received (by wamid)",
            dispatched_wamids,
            (m.wamid for m in sandbox),
            "dispatched wamids",
        ),
        _exact(
            "sandbox: customer messages answered",
            sent_tags,
            (tag for m in sandbox for tag in reply_tags(m, answers)),
            "answers",
        ),
        # The read models (analytics schema).
        _exact(
            "analytics.messages: customer (by wamid)",
            sent_wamids,
            (row[1] for row in models.customer_rows),
            "messages",
        ),
        _exact(
            "analytics.messages: AI replies (by id)",
            queued_ids,
            (row[0] for row in ai_rows),
            "replies",
        ),
        _exact(
            "analytics.messages: AI replies (by wamid)",
            dispatched_wamids,
            (row[1] for row in ai_rows),
            "wamids",
        ),
        _exact(
            "analytics.messages: AI replies (by in_reply_to)",
            {q.in_reply_to_message_id for q in ai_queued},
            (row[2] for row in ai_rows),
            "answers",
        ),
        Check("analytics.messages: other replies", 0, len(models.reply_rows) - len(ai_rows)),
        Check(
            "analytics.messages: status as in the event store",
            len(ai_rows),
            len(ai_rows) - len(status_differs),
            f"differ, e.g. {status_differs[:3]}" if status_differs else "",
        ),
        Check(
            "analytics.response_facts (answered)",
            f"{n} ({n})",
            f"{models.response_facts} ({models.answered})",
        ),
        Check("analytics.conversations", log.conversations, models.conversations),
        Check(
            "analytics.conversations: sum of message_count",
            len(log.received) + len(log.queued),
            models.message_count_sum,
        ),
        Check("analytics.contacts", log.contacts, models.contacts),
        Check(
            "analytics.contacts: name as in the event store",
            len(log.name_of),
            len(log.name_of) - len(names_differ),
            f"differ, e.g. {names_differ[:3]}" if names_differ else "",
        ),
        Check(
            "analytics projection position = event store end", log.last_position, models.position
        ),
        Check(
            "DEAD_LETTERS messages",
            0,
            stream.dead_letters,
            ", ".join(f"{s}: {c}" for s, c in stream.dead_letter_subjects.items()),
        ),
    ]


def duplicate_sends(
    sandbox: list[AcceptedMessage], faults: list[Fault], log: EventLogFacts, load: LoadFigures
) -> list[str]:
    """Every send WhatsApp received that the session never recorded — a reply sent again —
    with the fault nearest it (outbound documents one window it cannot close: a crash, or
    losing NATS, between Meta's 200 and the write of its sent-ledger)."""
    answers = answers_by_wamid(log, load)
    explained = in_outbound_crash_window(sandbox, faults, answers)
    lines = []
    for message in sorted(sandbox, key=lambda m: m.accepted_at):
        if message.wamid in answers:
            continue
        tags = ", ".join(reply_tags(message, answers))
        line = f"{tags} sent at {message.accepted_at:%H:%M:%S.%f}"
        if faults:
            nearest = min(
                faults, key=lambda f: abs((f.killed_wall - message.accepted_at).total_seconds())
            )
            gap = (nearest.killed_wall - message.accepted_at).total_seconds() * 1000
            line += f"; nearest fault: {nearest.target} killed {gap:+.0f} ms from the send"
        if message.wamid in explained:
            line += " (outbound's documented crash window: not a mismatch)"
        lines.append(line)
    return lines
