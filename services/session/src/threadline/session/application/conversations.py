"""The session's use cases: record facts in micro-batches, and the operators' commands."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

from eventsourcing.application import (
    Application,
    Cache,
    LRUCache,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder
from eventsourcing.utils import get_topic

from threadline.messaging.failures import Failure, classify, describe
from threadline.rules.testchat import chat_wamid, tester_user_id
from threadline.servicekit.auth import Principal
from threadline.servicekit.clock import Clock, utc_now
from threadline.session.application.api_tokens import (
    ApiTokenView,
    IssuedApiToken,
    RevokeOutcome,
    issue_api_token,
    revoke_api_token,
)
from threadline.session.application.api_tokens import view as api_token_view
from threadline.session.application.api_tokens import visible as api_token_visible
from threadline.session.application.assistants import (
    AssistantView,
    ConfigureOutcome,
    configure_assistant,
    visible,
)
from threadline.session.application.assistants import view as assistant_view
from threadline.session.application.contacts import find_or_register_contact
from threadline.session.application.fact_handlers import (
    HANDLERS,
    business_number,
    conversation,
    open_conversation,
    small_aggregates,
)
from threadline.session.application.facts import Fact, MessageFromTester, OutboundRequest
from threadline.session.application.flows import ConfigureFlowOutcome, FlowView, configure_flow
from threadline.session.application.flows import view as flow_view
from threadline.session.application.flows import visible as flow_visible
from threadline.session.application.outcomes import NotYet, Outcome, Rejected
from threadline.session.application.ports import StoredHistories
from threadline.session.application.sending_files import FilesRequest, queue_files
from threadline.session.application.transcodings import TRANSCODINGS
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.application.views import ConversationView, conversation_view
from threadline.session.application.webhooks import (
    ConfigureWebhookOutcome,
    WebhookView,
    configure_webhook,
    remove_webhook,
)
from threadline.session.application.webhooks import view as webhook_view
from threadline.session.application.webhooks import visible as webhook_visible
from threadline.session.domain.api_token import API_TOKEN_ISSUED, ApiToken, ApiTokenScope
from threadline.session.domain.assistant import (
    ASSISTANT_REGISTERED,
    Assistant,
    AssistantSettings,
)
from threadline.session.domain.business_number import Template
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.errors import ConversationNotFound, DomainError, InvalidMessage
from threadline.session.domain.flow import FLOW_DEFINED, Flow, FlowSettings
from threadline.session.domain.identity import inbound_message_id, requested_message_id
from threadline.session.domain.templates import template_reference
from threadline.session.domain.webhook_subscription import (
    WEBHOOK_CONFIGURED,
    WebhookSettings,
    WebhookSubscription,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
CONFLICT_RETRIES = 3
# A batch is tried whole this many times when it meets another writer's change, then one
# fact at a time.
BATCH_ATTEMPTS = 2


class Conversations(Application[UUID]):
    """Contacts, conversations, business numbers and assistants, stored as events.

    This is eventsourcing's `Application`: its repository, recorder and mapper are configured
    from `env` (the PostgreSQL store and its recorder are chosen there, by topic). What it
    needs beyond the library's recorder, it asks through ports (`ports.StoredHistories`).
    """

    name = "Session"
    snapshotting_intervals: ClassVar = {Conversation: 200}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Clock = utc_now,
        validate_reads: bool = False,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        recorder = self.recorder
        self._histories = recorder if isinstance(recorder, StoredHistories) else None
        # Several writers (session instances): before a unit is saved, or its outcome taken,
        # every aggregate it read is checked against the store in one query (below).
        self._validate_reads = validate_reads and self._histories is not None

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    def forget_cached(self) -> None:
        """Drop every cached aggregate (on the writer thread): another instance may have
        written them since (a partition of facts that came back to this one)."""
        cache = self.repository.cache
        if cache is not None:
            self.repository.cache = (
                type(cache)(cache.maxsize) if isinstance(cache, LRUCache) else Cache()
            )

    # Facts: micro-batches, one transaction each ----------------------------------------

    def record_facts(self, facts: Sequence[Fact]) -> list[Outcome]:
        """Apply a batch and save it in one transaction (group commit).

        A batch that met another writer's change (`IntegrityError`: an aggregate it wrote or
        read was written meanwhile, e.g. a business number two partitions registered at
        once) is applied once more, whole, on fresh copies. When it still cannot be saved
        whole (the conflict again, or one fact that breaks), each fact is applied and saved
        alone, so one poison fact cannot block the others.
        """
        try:
            return self._in_transaction(
                lambda unit: self._apply_batch(facts, unit), attempts=BATCH_ATTEMPTS
            )
        except Exception as error:
            if classify(error) is Failure.UNAVAILABLE:
                raise  # the store is away: the consumer waits, then hands the batch again
            log.warning("batch of %d facts falls back to one at a time: %r", len(facts), error)
        return [self._record_alone(fact) for fact in facts]

    def _apply_batch(self, facts: Sequence[Fact], unit: UnitOfWork) -> list[Outcome]:
        unit.prefetch(
            (i for fact in facts for i in small_aggregates(fact)),
            self._load_many,
        )
        return [self._apply(fact, unit) for fact in facts]

    def _record_alone(self, fact: Fact) -> Outcome:
        """One fact in its own transaction; what fails is classified (`failures`): a
        permanent failure rejects this fact alone, a transient one retries it later, and an
        unavailable store is raised for the consumer to wait out."""
        try:
            return self._in_transaction(lambda unit: self._apply(fact, unit))
        except IntegrityError:
            return NotYet("optimistic concurrency conflicts persisted")
        except Exception as error:
            kind = classify(error)
            if kind is Failure.UNAVAILABLE:
                raise
            log.exception("fact %r cannot be recorded (%s)", fact, kind.value)
            if kind is Failure.TRANSIENT:
                return NotYet(describe(error))
            return Rejected(describe(error), slug="poison")

    def _load_many(self, ids: Iterable[UUID]) -> dict[UUID, Any] | None:
        """The aggregates among `ids` that the store has, read with one query (no snapshots:
        this is for the small aggregates a batch touches — contact keys, business numbers).
        None when the store cannot do this (the in-memory store of unit tests)."""
        if self._histories is None:
            return None
        wanted = list(ids)
        if not wanted:
            return {}
        histories: dict[UUID, list[Any]] = {}
        for stored in self._histories.select_histories(wanted):
            event = self.mapper.to_domain_event(stored)
            histories.setdefault(cast(UUID, stored.originator_id), []).append(event)
        return {
            aggregate_id: project_aggregate(None, history)
            for aggregate_id, history in histories.items()
        }

    def _apply(self, fact: Fact, unit: UnitOfWork) -> Outcome:
        try:
            return HANDLERS[type(fact)](fact, unit, self.clock)
        except DomainError as error:
            return Rejected(str(error), slug=type(error).__name__)

    def _in_transaction(
        self, work: Callable[[UnitOfWork], T], *, attempts: int = CONFLICT_RETRIES
    ) -> T:
        """Run a command and save what it changed; on a version conflict, reload and retry
        (`attempts` in all, then the conflict is raised)."""
        for attempt in range(attempts):
            unit = self._unit()
            try:
                result = work(unit)
                self._save(unit)
                return result
            except IntegrityError:
                unit.forget()
                if attempt == attempts - 1:
                    raise
            except BaseException:
                unit.forget()
                raise
        raise AssertionError("unreachable")

    def _unit(self) -> UnitOfWork:
        """Commands run on the one writer thread and change cached aggregates in place (no
        copy per load); every failure path forgets what the unit touched."""
        return UnitOfWork(self.repository, in_place=True)

    def _save(self, unit: UnitOfWork) -> None:
        """`Application.save` without its per-object protocol checks (slow `isinstance` on
        runtime-checkable protocols; a quarter of the batched path's time in `make bench`).
        Relies on `ProcessingEvent`, `_record`, `_take_snapshots`, `_notify` of
        eventsourcing 9.5 (pinned to that minor version)."""
        if self._validate_reads:
            self._check_reads(unit)
        processing = ProcessingEvent[UUID]()
        for aggregate in unit.changed():
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        if not processing.events:
            return
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)

    def _check_reads(self, unit: UnitOfWork) -> None:
        """Raise `IntegrityError` when another writer stored events after this unit read an
        aggregate it did not change (its cached copy was stale): the caller forgets what the
        unit touched and applies its facts again on fresh copies. One query for the whole
        unit, where the cache's fast-forward asks once per aggregate loaded. An aggregate the
        unit changed needs no check: its new events take the versions after the one read, and
        conflict on insert with any event another writer stored. A write after this check
        either conflicts so, or follows what this unit only read, as if its facts had come a
        moment earlier."""
        read = unit.read_unchanged()
        if not read or self._histories is None:
            return
        stale = self._histories.changed_since(read)
        if stale:
            raise IntegrityError(f"{len(stale)} aggregates changed by another writer since read")

    # Operator commands -----------------------------------------------------------------

    def send_message(self, request: OutboundRequest) -> tuple[UUID, UUID]:
        """Queue an operator's message; a repeated idempotency key returns the first ids."""

        def send(unit: UnitOfWork) -> tuple[UUID, UUID]:
            talk = self._target_conversation(request, unit)
            message_id = requested_message_id(talk.id, request.idempotency_key)
            number = business_number(unit, talk.phone_number_id)
            template = None
            if request.content.get("type") == "template":
                template = number.template(
                    *template_reference(request.content.get("payload_json", ""))
                )
            talk.queue_outbound(
                message_id=message_id,
                author=request.author,
                content=request.content,
                now=self.clock(),
                template=template,
                usable_templates=[f"{t.name} ({t.language})" for t in number.all_templates()],
                quoted_message_id=request.quoted_message_id,
                trace=request.trace,
            )
            return talk.id, message_id

        return self._in_transaction(send)

    def check_files_sendable(
        self, conversation_id: UUID, author: str, *, text: str = "", quoted_message_id: str = ""
    ) -> None:
        """Whether an operator's files, their text and the message they quote may go into this
        conversation now (author, status, the 24-hour window, the text's length, a quotable
        message), asked before any file is read or kept, so a refused call keeps nothing;
        raises as sending would."""
        talk = self._conversation(conversation_id)
        now = self.clock()
        talk.check_outbound(author, {"type": "document"}, now)
        if text:
            talk.check_outbound(author, {"type": "text", "text": text}, now)
        talk.quoted_wamid(quoted_message_id)

    def send_files(self, request: FilesRequest) -> tuple[UUID, list[UUID]]:
        """Queue an operator's kept files, then the text (`sending_files`); a repeated
        idempotency key returns the first ids and queues nothing new."""

        def send(unit: UnitOfWork) -> tuple[UUID, list[UUID]]:
            first = request.files[0].content() if request.files else {"type": "text"}
            talk = self._target_conversation(
                OutboundRequest(
                    content=first,
                    idempotency_key=request.idempotency_key,
                    conversation_id=request.conversation_id,
                    phone_number_id=request.phone_number_id,
                    customer_wa_id=request.customer_wa_id,
                ),
                unit,
            )
            number = business_number(unit, talk.phone_number_id)
            usable = [f"{t.name} ({t.language})" for t in number.all_templates()]
            ids = queue_files(talk, request, now=self.clock(), usable_templates=usable)
            return talk.id, ids

        return self._in_transaction(send)

    def _target_conversation(self, request: OutboundRequest, unit: UnitOfWork) -> Conversation:
        if request.conversation_id is not None:
            return conversation(unit, request.conversation_id)
        if not request.phone_number_id or not request.customer_wa_id:
            raise InvalidMessage("give a conversation_id, or a phone_number_id and customer")
        contact = find_or_register_contact(
            unit, request.phone_number_id, request.customer_wa_id, "", ""
        )
        category = "SERVICE"
        if request.content.get("type") == "template":
            name, language = template_reference(request.content.get("payload_json", ""))
            category = (
                business_number(unit, request.phone_number_id).template(name, language).category
            )
        return open_conversation(unit, contact, opened_by="business", category=category)

    def send_test_message(self, message: MessageFromTester) -> tuple[UUID, UUID]:
        """Record a tester's message as a customer message on channel `test`, in the open
        conversation of the tester's synthetic contact (a new one when none is open); a
        repeated idempotency key returns the first ids and records nothing new."""

        def record(unit: UnitOfWork) -> tuple[UUID, UUID]:
            number = message.phone_number_id
            contact = find_or_register_contact(
                unit, number, "", tester_user_id(message.tester), message.tester
            )
            business_number(unit, number)
            key = requested_message_id(contact.id, message.idempotency_key)
            wamid = chat_wamid(str(key))
            message_id = inbound_message_id(wamid)
            for earlier in contact.recent_conversations():
                talk = conversation(unit, earlier)
                if talk.knows(wamid):
                    return talk.id, message_id
            talk = open_conversation(unit, contact)
            talk.receive_customer_message(
                message_id=message_id, wamid=wamid, content=message.content, sent_at=self.clock()
            )
            return talk.id, message_id

        return self._in_transaction(record)

    def change_status(self, conversation_id: UUID, status: str, *, reason: str, by: str) -> str:
        return self._in_transaction(
            lambda unit: _changed_status(conversation(unit, conversation_id), status, reason, by)
        )

    def hand_off(self, conversation_id: UUID, *, reason: str, by: str) -> str:
        def hand(unit: UnitOfWork) -> str:
            talk = conversation(unit, conversation_id)
            talk.hand_off(reason=reason, by=by)
            return talk.status

        return self._in_transaction(hand)

    def resume_autopilot(self, conversation_id: UUID, *, by: str) -> str:
        def resume(unit: UnitOfWork) -> str:
            talk = conversation(unit, conversation_id)
            talk.resume_autopilot(by=by)
            return talk.status

        return self._in_transaction(resume)

    def set_autopilot(self, phone_number_id: str, enabled: bool) -> None:
        def switch(unit: UnitOfWork) -> None:
            number = business_number(unit, phone_number_id)
            if number.autopilot != enabled:
                number.set_autopilot(enabled)

        self._in_transaction(switch)

    def set_auto_resolution(self, phone_number_id: str, hours: int) -> None:
        self._in_transaction(
            lambda unit: business_number(unit, phone_number_id).resolve_after(hours)
        )

    def register_template(
        self, phone_number_id: str, *, name: str, language: str, category: str, body: str
    ) -> Template:
        def register(unit: UnitOfWork) -> Template:
            number = business_number(unit, phone_number_id)
            number.register_template(name=name, language=language, category=category, body=body)
            return number.template(name, language)

        return self._in_transaction(register)

    def configure_assistant(
        self, settings: AssistantSettings, may_serve: Callable[[str], bool]
    ) -> ConfigureOutcome:
        return self._in_transaction(lambda unit: configure_assistant(unit, settings, may_serve))

    def configure_flow(
        self, settings: FlowSettings, may_serve: Callable[[str], bool], every: bool
    ) -> ConfigureFlowOutcome:
        return self._in_transaction(lambda unit: configure_flow(unit, settings, may_serve, every))

    def issue_api_token(self, name: str, scope: ApiTokenScope, issuer: Principal) -> IssuedApiToken:
        return self._in_transaction(lambda unit: issue_api_token(unit, name, scope, issuer))

    def revoke_api_token(self, token_id: str, revoker: Principal) -> RevokeOutcome:
        return self._in_transaction(lambda unit: revoke_api_token(unit, token_id, revoker))

    def configure_webhook(
        self, settings: WebhookSettings, may_serve: Callable[[str], bool], every: bool
    ) -> ConfigureWebhookOutcome:
        return self._in_transaction(
            lambda unit: configure_webhook(unit, settings, may_serve, every)
        )

    def remove_webhook(
        self, subscription_id: str, may_serve: Callable[[str], bool], every: bool
    ) -> ConfigureWebhookOutcome:
        return self._in_transaction(
            lambda unit: remove_webhook(unit, subscription_id, may_serve, every)
        )

    def auto_resolve(self, conversation_id: UUID) -> bool:
        """Resolve one conversation if it has been idle past its number's threshold."""

        def resolve(unit: UnitOfWork) -> bool:
            talk = conversation(unit, conversation_id)
            hours = business_number(unit, talk.phone_number_id).auto_resolve_hours
            return talk.auto_resolve(now=self.clock(), after=timedelta(hours=hours))

        return self._in_transaction(resolve)

    # Queries -------------------------------------------------------------------------

    def find_conversation(self, conversation_id: UUID) -> ConversationView:
        """The conversation with this id; the id of anything else (a contact, a key, a business
        number) is not found either, never named as what it is."""
        return conversation_view(self._conversation(conversation_id))

    def business_number_of(self, conversation_id: UUID) -> str:
        """The business number a conversation belongs to (ConversationNotFound as above)."""
        return self._conversation(conversation_id).phone_number_id

    def _conversation(self, conversation_id: UUID) -> Conversation:
        found = UnitOfWork(self.repository).get(conversation_id, Aggregate)
        if not isinstance(found, Conversation):
            raise ConversationNotFound(conversation_id)
        return found

    def auto_resolve_hours(self, phone_number_id: str) -> int:
        return business_number(UnitOfWork(self.repository), phone_number_id).auto_resolve_hours

    def templates(self, phone_number_id: str) -> list[Template]:
        return business_number(UnitOfWork(self.repository), phone_number_id).all_templates()

    def assistants(self, numbers: frozenset[str] | None) -> list[AssistantView]:
        """Every assistant serving one of `numbers` (all of them for None), by name."""
        found, after, unit = [], 0, UnitOfWork(self.repository)
        while page := self.stored_events(after, 500, types=[ASSISTANT_REGISTERED]):
            after = page[-1][0]
            for _, registered in page:
                assistant = unit.get(registered.originator_id, Assistant)
                if assistant is not None and visible(assistant, numbers):
                    found.append(assistant_view(assistant))
        return sorted(found, key=lambda a: a.settings.name)

    def flows(self, numbers: frozenset[str] | None) -> list[FlowView]:
        """Every flow running on one of `numbers` or on every number (all of them for None),
        by id."""
        found, after, unit = [], 0, UnitOfWork(self.repository)
        while page := self.stored_events(after, 500, types=[FLOW_DEFINED]):
            after = page[-1][0]
            for _, defined in page:
                flow = unit.get(defined.originator_id, Flow)
                if flow is not None and flow_visible(flow, numbers):
                    found.append(flow_view(flow))
        return sorted(found, key=lambda f: f.settings.id)

    def api_tokens(self, caller: Principal, include_revoked: bool) -> list[ApiTokenView]:
        """The managed tokens within the caller's numbers, oldest first."""
        found, after, unit = [], 0, UnitOfWork(self.repository)
        while page := self.stored_events(after, 500, types=[API_TOKEN_ISSUED]):
            after = page[-1][0]
            for _, issued in page:
                token = unit.get(issued.originator_id, ApiToken)
                if token is None or not api_token_visible(token, caller):
                    continue
                if include_revoked or not token.revoked:
                    found.append(api_token_view(token))
        return found

    def webhooks(
        self, can_see: Callable[[str], bool] | None, phone_number_id: str = ""
    ) -> list[WebhookView]:
        """The webhook subscriptions the caller sees (`webhooks.visible`), not removed, by id;
        with `phone_number_id`, only those on that number or on "*"."""
        found, after, unit = [], 0, UnitOfWork(self.repository)
        while page := self.stored_events(after, 500, types=[WEBHOOK_CONFIGURED]):
            after = page[-1][0]
            for _, configured in page:
                subscription = unit.get(configured.originator_id, WebhookSubscription)
                if (
                    subscription is not None
                    and not subscription.removed
                    and webhook_visible(subscription, can_see)
                    and (
                        not phone_number_id
                        or subscription.phone_number_id in (phone_number_id, "*")
                    )
                ):
                    found.append(webhook_view(subscription))
        return sorted(found, key=lambda w: w.settings.subscription_id)

    def stored_events(
        self, after: int, limit: int, *, types: Sequence[type[Any]]
    ) -> list[tuple[int, Any]]:
        """Up to `limit` stored events of these types after position `after`, with their
        positions (blocking I/O)."""
        topics = [get_topic(event_type) for event_type in types]
        page = self.recorder.select_notifications(
            after, limit, topics=topics, inclusive_of_start=False
        )
        return [(note.id, self.mapper.to_domain_event(note)) for note in page]


def _changed_status(talk: Conversation, status: str, reason: str, by: str) -> str:
    talk.change_status(status, reason=reason, by=by)
    return talk.status
