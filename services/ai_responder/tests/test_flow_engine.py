"""The flow engine (issue 12): a pure state machine from the customer's answers, tool results and
time to the next state and what to do. The salon's booking flow end to end, re-asks, hand-offs,
expiry and triggers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ai_responder.domain.flows.engine import (
    Action,
    Advanced,
    CustomerReply,
    Extraction,
    FlowEnded,
    FlowState,
    FlowStatus,
    HandOffToPerson,
    Input,
    RequestExtraction,
    RequestTool,
    SendReply,
    StepReached,
    Tick,
    ToolResult,
    advance,
    start,
    triggered,
    triggers,
)
from threadline.ai_responder.domain.reply_format import (
    ButtonsReply,
    Option,
    TextReply,
    as_message_content,
)
from threadline.rules.fields import FieldKind
from threadline.rules.flow_definition import Ask, FlowDefinition, parse_flow
from threadline.rules.whatsapp_limits import interactive_problem, text_problem

SALON_FILE = Path(__file__).resolve().parents[3] / "examples" / "salon" / "booking-flow.yaml"
SALON = parse_flow(yaml.safe_load(SALON_FILE.read_text()))
SALON_PT = parse_flow(yaml.safe_load((SALON_FILE.parent / "agendamento-flow.yaml").read_text()))
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # Thursday 11:00 in São Paulo
DATE_HINT = "I could not read that as a day from today on."
DATE_PROMPT = "Which day? (for example 25/12, tomorrow or friday)"


def step(
    state: FlowState, event: Input, minutes: int = 1, flow: FlowDefinition = SALON
) -> Advanced:
    return advance(flow, state, event, NOW + timedelta(minutes=minutes), SAO_PAULO)


def say(text: str = "", reply_id: str = "") -> CustomerReply:
    return CustomerReply(text, reply_id)


def texts(actions: tuple[Action, ...]) -> list[str]:
    found: list[str] = []
    for action in actions:
        if isinstance(action, SendReply):
            reply = action.reply
            found.append(reply.text if isinstance(reply, TextReply) else reply.body)
    return found


def at_date(name: str = "ana") -> FlowState:
    state, _ = start(SALON, NOW)
    state, _ = step(state, say(name))
    state, _ = step(state, say("Haircut"))
    assert state.current_step_id == "ask_date"
    return state


def test_the_salon_booking_flow_collects_confirms_books_and_completes() -> None:
    state, actions = start(SALON, NOW)
    assert actions == (
        StepReached("ask_name"),
        SendReply(TextReply("Let's book your appointment. What is your name?")),
    )
    assert (state.flow_id, state.version, state.status) == ("salon-booking", 1, FlowStatus.RUNNING)
    assert state.expires_at == NOW + timedelta(minutes=30)

    state, actions = step(state, say("maria da silva"))
    assert state.session_data == {"name": "Maria da Silva"}
    assert actions == (
        StepReached("ask_service"),
        SendReply(
            ButtonsReply(
                "Thanks, Maria da Silva! Which service would you like?",
                (
                    Option("cut", "Haircut"),
                    Option("color", "Coloring"),
                    Option("nails", "Manicure"),
                ),
            )
        ),
    )

    state, actions = step(state, say("Coloring", reply_id="color"))
    assert state.session_data["service"] == "color"
    assert texts(actions) == [DATE_PROMPT]

    state, actions = step(state, say("31/02"))  # no such day: re-asked with the hint
    assert (state.current_step_id, state.retries) == ("ask_date", 1)
    assert actions == (SendReply(TextReply(f"{DATE_HINT}\n{DATE_PROMPT}")),)
    state, actions = step(state, say("01/12/2026"))  # past
    assert state.retries == 2 and texts(actions) == [f"{DATE_HINT}\n{DATE_PROMPT}"]

    state, actions = step(state, say("amanhã"))
    assert state.session_data["date"] == "2026-12-04" and state.retries == 0
    assert actions == (
        StepReached("ask_time"),
        SendReply(TextReply("At what time? We are open 9:00-19:00.")),
    )

    state, actions = step(state, say("2pm"))
    assert state.session_data["time"] == "14:00"
    (_, confirm) = actions
    assert isinstance(confirm, SendReply) and isinstance(confirm.reply, ButtonsReply)
    # The choice shown by its title; the data keeps its id.
    assert confirm.reply.body == "Maria da Silva, Coloring on 2026-12-04 at 14:00. Shall I book it?"
    assert state.session_data["service"] == "color"
    assert [b.id for b in confirm.reply.buttons] == ["yes", "change", "no"]

    state, actions = step(state, say("Yes, book it", reply_id="yes"))
    arguments = {
        "name": "Maria da Silva",
        "service": "color",
        "date": "2026-12-04",
        "time": "14:00",
    }
    assert actions == (
        StepReached("check"),
        StepReached("book"),
        RequestTool("book", "book_appointment", arguments),
    )
    assert state.current_step_id == "book"

    waiting = state
    state, actions = step(state, say("is it done?"))  # not the flow's while the tool runs
    assert (state, actions) == (waiting, ())
    state, actions = step(state, ToolResult("ask_date", ok=True, result="late"))  # another step
    assert (state, actions) == (waiting, ())

    state, actions = step(state, ToolResult("book", ok=True, result="SAL-42"))
    reply = "Booked! Your reference is SAL-42. See you on 2026-12-04 at 14:00."
    assert actions == (
        StepReached("booked"),
        SendReply(TextReply(reply)),
        FlowEnded(FlowStatus.COMPLETED, state.session_data),
    )
    assert state.completed and not state.running and state.session_data["booking"] == "SAL-42"
    assert step(state, say("thanks")) == (state, ())  # an ended flow takes nothing more


def test_changing_the_day_goes_back_to_the_date_and_cancelling_ends_without_booking() -> None:
    state = at_date()
    state, _ = step(state, say("friday"))
    state, _ = step(state, say("10:00"))
    state, actions = step(state, say("", reply_id="change"))
    assert state.current_step_id == "ask_date" and texts(actions) == [DATE_PROMPT]
    state, _ = step(state, say("sábado"))
    state, _ = step(state, say("10:00"))
    assert state.session_data["date"] == "2026-12-05"
    state, actions = step(state, say("cancel"))  # by title, typed
    assert texts(actions) == ["No problem, nothing was booked."]
    assert state.completed and not any(isinstance(a, RequestTool) for a in actions)


def test_a_tap_on_an_older_message_s_button_is_not_an_answer_to_this_question() -> None:
    state, _ = start(SALON, NOW)
    state, actions = step(state, say("Cancel", reply_id="no"))  # an old confirmation's button
    assert state.retries == 1 and "name" not in state.session_data
    assert texts(actions) == [
        "Please send your name, letters only.\nLet's book your appointment. What is your name?"
    ]
    state, _ = step(state, say("Ana"))
    state, _ = step(state, say("Manicure", reply_id="menu-3"))  # not one of this question's
    assert state.current_step_id == "ask_service" and state.retries == 1
    state, _ = step(state, say("Manicure", reply_id="nails"))
    assert state.session_data == {"name": "Ana", "service": "nails"}


def test_a_date_question_s_own_buttons_answer_it_by_id() -> None:
    definition = flow(
        [
            {
                "id": "when",
                "ask": {
                    "field": "date",
                    "type": "date",
                    "prompt": {"text": "When?", "buttons": [{"id": "tomorrow", "title": "Tmrw"}]},
                },
            }
        ]
    )
    state, actions = start(definition, NOW)
    assert isinstance(actions[-1], SendReply) and isinstance(actions[-1].reply, ButtonsReply)
    state, _ = step(state, say("Tmrw", reply_id="tomorrow"), flow=definition)
    assert state.session_data == {"date": "2026-12-04"}


def test_a_date_refused_three_times_hands_off() -> None:
    state = at_date()
    for attempt in range(2):
        state, actions = step(state, say("whenever"))
        assert state.retries == attempt + 1 and state.running
    state, actions = step(state, say("no idea"))
    assert state.status is FlowStatus.HANDED_OFF
    assert actions == (
        HandOffToPerson("no valid date after 3 answers"),
        FlowEnded(FlowStatus.HANDED_OFF, state.session_data),
    )


def test_a_failing_booking_tool_hands_off_with_the_flow_s_message() -> None:
    state = at_date()
    for answer in (say("tomorrow"), say("9:30"), say("", reply_id="yes")):
        state, _ = step(state, answer)
    state, actions = step(state, ToolResult("book", ok=False, error="HTTP 503"))
    assert actions == (
        StepReached("human"),
        SendReply(
            TextReply("I could not book it right now; a person from the salon will help you here.")
        ),
        HandOffToPerson("the booking tool failed"),
        FlowEnded(FlowStatus.HANDED_OFF, state.session_data),
    )
    assert "booking" not in state.session_data


def flow(steps: list[dict[str, Any]], **top: Any) -> FlowDefinition:
    return parse_flow({"id": "test", "steps": steps, **top})


def test_a_tool_without_on_error_hands_off_naming_the_tool() -> None:
    definition = flow([{"id": "call", "tool": {"name": "ping"}}, {"id": "done", "end": "ok"}])
    state, actions = start(definition, NOW)
    assert actions[-1] == RequestTool("call", "ping", {})
    state, actions = step(state, ToolResult("call", ok=False, error="timeout"), flow=definition)
    assert HandOffToPerson("tool ping failed: timeout") in actions
    assert state.status is FlowStatus.HANDED_OFF


def test_an_ask_that_skips_goes_on_without_the_field() -> None:
    definition = flow(
        [
            {
                "id": "email",
                "ask": {
                    "field": "email",
                    "type": "email",
                    "prompt": "Email?",
                    "attempts": 1,
                    "on_fail": "skip",
                },
            },
            {"id": "bye", "end": "Bye {email}."},
        ]
    )
    state, _ = start(definition, NOW)
    state, actions = step(state, say("no thanks"), flow=definition)
    assert texts(actions) == ["Bye ."] and state.completed and "email" not in state.session_data


def test_an_answer_the_rules_refuse_goes_to_the_model_when_the_ask_extracts() -> None:
    definition = flow(
        [
            {
                "id": "when",
                "ask": {"field": "date", "type": "date", "prompt": "When?", "extract": True},
            },
            {"id": "ok", "end": "On {date}."},
        ]
    )
    state, _ = start(definition, NOW)
    sentence = "could we do it on the 24th of december please"
    waiting, actions = step(state, say(sentence), flow=definition)
    ask = definition.first_step.action
    assert isinstance(ask, Ask)
    assert actions == (RequestExtraction("when", ask.field, sentence),)
    assert waiting.retries == 0 and waiting.current_step_id == "when"

    refused, actions = step(waiting, Extraction("when", ""), flow=definition)
    assert refused.retries == 1
    assert texts(actions) == ["Please send a date like 25/12, 2026-12-25 or tomorrow.\nWhen?"]

    done, actions = step(waiting, Extraction("when", "2026-12-24"), flow=definition)
    assert done.completed and texts(actions) == ["On 2026-12-24."]
    assert step(waiting, Extraction("other", "2026-12-24"), flow=definition) == (waiting, ())


def test_a_flow_expires_after_the_customer_s_last_answer_the_way_it_says() -> None:
    state, _ = start(SALON, NOW)
    assert step(state, Tick(), minutes=29) == (state, ())
    state, _ = step(state, say("Ana"), minutes=20)  # the customer answered: 30 minutes more
    assert state.expires_at == NOW + timedelta(minutes=50)
    assert step(state, Tick(), minutes=49) == (state, ())
    expired, actions = step(state, Tick(), minutes=50)
    assert expired.status is FlowStatus.EXPIRED and not expired.completed
    assert actions == (
        SendReply(TextReply(SALON.expiry.message)),
        FlowEnded(FlowStatus.EXPIRED, {"name": "Ana"}),
    )
    late, actions = step(state, say("Haircut"), minutes=90)  # a late answer: expired first
    assert late == expired and actions[-1] == FlowEnded(FlowStatus.EXPIRED, {"name": "Ana"})


def test_an_expiry_may_hand_off() -> None:
    definition = flow(
        [{"id": "q", "ask": {"field": "x", "prompt": "?"}}],
        expiry={"after": "2h", "then": "hand_off"},
    )
    state, _ = start(definition, NOW)
    state, actions = step(state, Tick(), minutes=120, flow=definition)
    assert actions == (HandOffToPerson("the flow expired"), FlowEnded(FlowStatus.EXPIRED, {}))


def test_a_re_ask_without_the_field_s_own_hint_speaks_the_flow_s_language() -> None:
    definition = flow(
        [{"id": "when", "ask": {"field": "date", "type": "date", "prompt": "Qual dia?"}}],
        language="pt_BR",
    )
    state, _ = start(definition, NOW)
    state, actions = step(state, say("sei lá"), flow=definition)
    hint = "Por favor, envie uma data como 25/12, 2026-12-25 ou amanhã."
    assert texts(actions) == [f"{hint}\nQual dia?"]
    state, _ = step(state, say("amanhã"), flow=definition)
    assert state.completed and state.session_data == {"date": "2026-12-04"}


def test_a_running_flow_whose_step_is_gone_hands_off() -> None:
    state, _ = start(SALON, NOW)
    state, actions = step(replace(state, current_step_id="old"), say("Ana"))
    assert state.status is FlowStatus.HANDED_OFF
    assert HandOffToPerson("the flow's step no longer exists") in actions


def test_a_choice_shown_as_text_lists_its_options_and_takes_their_number() -> None:
    definition = flow(
        [
            {
                "id": "pick",
                "ask": {
                    "field": "size",
                    "type": "choice",
                    "prompt": "Size?",
                    "options": ["Small", "Large"],
                    "show_as": "text",
                },
            }
        ]
    )
    state, actions = start(definition, NOW)
    assert texts(actions) == ["Size?\n1. Small\n2. Large"]
    state, _ = step(state, say("2"), flow=definition)
    assert state.session_data == {"size": "Large"} and state.completed
    ask = definition.first_step.action
    assert isinstance(ask, Ask) and ask.field.kind is FieldKind.CHOICE


def test_triggers_by_keyword_button_or_first_message() -> None:
    assert triggers(SALON_PT, say("Quero AGENDAR um horário!"), first_message=False)
    assert triggers(SALON, say("Can I book?"), first_message=False)
    assert triggers(SALON, say("Book."), first_message=False)
    assert triggers(SALON_PT, say("marcar,por favor"), first_message=False)
    assert not triggers(SALON, say("marcar,por favor"), first_message=False)
    assert triggers(SALON, say("¿Puedo pedir una cita?"), first_message=False)
    assert triggers(SALON, say("Book now", reply_id="book"), first_message=False)
    assert not triggers(SALON, say("my notebook broke"), first_message=False)
    assert not triggers(SALON, say("hello"), first_message=True)

    welcome = flow([{"id": "hi", "end": "Welcome!"}], trigger={"first_message": True})
    menu = flow([{"id": "m", "end": "Menu"}], trigger={"button_payloads": ["menu"]})
    menu = replace(menu, id="menu")
    flows = [welcome, SALON, menu]
    assert triggered(flows, say("hello"), first_message=True) is welcome
    assert triggered(flows, say("I want to book"), first_message=True) is SALON
    assert triggered(flows, say("book", reply_id="menu"), first_message=True) is menu
    assert triggered(flows, say("hello"), first_message=False) is None


ANSWERS = st.sampled_from(
    ["", "Ana", "maria da silva", "1", "2", "3", "cut", "Coloring", "amanhã", "31/02", "friday",
     "2026-11-01", "2pm", "25:00", "yes", "change", "no", "Cancel", "book", "🙂"]
)  # fmt: skip
INPUTS = st.one_of(
    st.builds(CustomerReply, ANSWERS, st.sampled_from(["", "yes", "change", "no", "color"])),
    st.builds(CustomerReply, st.text(max_size=40)),
    st.builds(ToolResult, st.sampled_from(["book", "ask_date"]), st.booleans(), ANSWERS, ANSWERS),
    st.builds(Extraction, st.sampled_from(["ask_date", "ask_name"]), ANSWERS),
    st.just(Tick()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(INPUTS, st.integers(min_value=0, max_value=20)), max_size=25))
def test_any_inputs_keep_the_flow_consistent_and_its_replies_sendable(
    events: list[tuple[Input, int]],
) -> None:
    state, actions = start(SALON, NOW)
    minutes = 0
    for event, later in events:
        minutes += later
        before = state
        state, actions = step(state, event, minutes=minutes)
        if not before.running:
            assert (state, actions) == (before, ())
        ended = [a for a in actions if isinstance(a, FlowEnded)]
        assert len(ended) == (0 if state.running or not before.running else 1)
        if ended:
            assert actions[-1] == ended[0] and ended[0].status is state.status
        if state.running:
            assert state.current_step_id in {s.id for s in SALON.steps}
            assert state.retries < 3
        for action in actions:
            if isinstance(action, SendReply):
                kind, _, payload = as_message_content(action.reply)
                problem = (
                    text_problem(action.reply.text)
                    if isinstance(action.reply, TextReply)
                    else interactive_problem(json.loads(payload))
                )
                assert problem is None, (kind, problem)
        assert set(state.session_data) <= {"name", "service", "date", "time", "confirm", "booking"}


def test_a_portuguese_flow_shows_a_date_day_first_and_keeps_it_iso() -> None:
    state, _ = start(SALON_PT, NOW)
    for answer in ("Ana", "cut", "25/12", "10h30"):
        state, actions = step(state, say(answer), flow=SALON_PT)

    (_, confirm) = actions
    assert isinstance(confirm, SendReply) and isinstance(confirm.reply, ButtonsReply)
    assert confirm.reply.body == "Ana, Corte no dia 25/12/2026 às 10:30. Posso marcar?"
    assert state.session_data["date"] == "2026-12-25"
