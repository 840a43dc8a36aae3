"""The formats the assistant answers in: every kind, every repair, and any arguments at all
give a reply within WhatsApp's limits (checked by the rules the session enforces)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ai_responder.domain.reply_format import (
    KINDS,
    LIST_BUTTON,
    NOTHING,
    REPLY_SCHEMA,
    ButtonsReply,
    CtaUrlReply,
    ListReply,
    Option,
    Reply,
    TextReply,
    as_message_content,
    repair,
    shorten,
)
from threadline.rules.whatsapp_limits import interactive_problem, text_problem


def problem_of(reply: Reply) -> str | None:
    kind, text, payload_json = as_message_content(reply)
    payload = json.loads(payload_json)
    if kind == "text":
        assert payload["body"] == text
        return text_problem(text)
    assert kind == "interactive"
    return interactive_problem(payload)


def options(*titles: str) -> list[dict[str, str]]:
    return [{"title": title} for title in titles]


def test_text_turns_link_previews_on_only_with_a_web_link() -> None:
    plain = repair({"kind": "text", "text": "See you on Tuesday!"})
    linked = repair({"kind": "text", "text": "Book at https://lina.example/book"})

    assert plain == TextReply("See you on Tuesday!") and not plain.preview_url
    assert as_message_content(linked) == (
        "text",
        "Book at https://lina.example/book",
        '{"body":"Book at https://lina.example/book","preview_url":true}',
    )


def test_one_to_three_options_are_quick_reply_buttons() -> None:
    reply = repair(
        {
            "kind": "buttons",
            "text": "Which day?",
            "options": [{"id": "tue", "title": "Tuesday"}, {"id": "wed", "title": "Wednesday"}],
        }
    )

    assert reply == ButtonsReply(
        "Which day?", (Option("tue", "Tuesday"), Option("wed", "Wednesday"))
    )
    kind, text, payload_json = as_message_content(reply)
    assert (kind, text) == ("interactive", "Which day?")
    assert json.loads(payload_json) == {
        "type": "button",
        "body": {"text": "Which day?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "tue", "title": "Tuesday"}},
                {"type": "reply", "reply": {"id": "wed", "title": "Wednesday"}},
            ]
        },
    }


def test_a_list_carries_its_button_rows_and_descriptions() -> None:
    reply = repair(
        {
            "kind": "list",
            "text": "Our services",
            "list_button": "Services",
            "options": [{"id": "cut", "title": "Cut", "description": "30 min, 25 EUR"}],
        }
    )

    assert reply == ListReply("Our services", "Services", (Option("cut", "Cut", "30 min, 25 EUR"),))
    assert json.loads(as_message_content(reply)[2])["action"] == {
        "button": "Services",
        "sections": [{"rows": [{"id": "cut", "title": "Cut", "description": "30 min, 25 EUR"}]}],
    }


def test_a_cta_url_button_opens_its_page() -> None:
    reply = repair(
        {
            "kind": "cta_url",
            "text": "Book online",
            "url": "https://lina.example/book",
            "url_label": "Book now",
        }
    )

    assert reply == CtaUrlReply("Book online", "Book now", "https://lina.example/book")
    assert json.loads(as_message_content(reply)[2]) == {
        "type": "cta_url",
        "body": {"text": "Book online"},
        "action": {
            "name": "cta_url",
            "parameters": {"display_text": "Book now", "url": "https://lina.example/book"},
        },
    }


def test_four_to_ten_buttons_become_a_list() -> None:
    titles = [f"Slot {hour}:00" for hour in range(9, 16)]

    reply = repair({"kind": "buttons", "text": "Pick a time", "options": options(*titles)})

    assert isinstance(reply, ListReply)
    assert [row.title for row in reply.rows] == titles
    assert [row.id for row in reply.rows] == [f"option-{n}" for n in range(1, 8)]
    assert reply.button == LIST_BUTTON


def test_more_than_ten_options_become_text_listing_them() -> None:
    titles = [f"Slot {n}" for n in range(1, 13)]

    reply = repair({"kind": "list", "text": "Free slots:", "options": options(*titles)})

    assert reply == TextReply("Free slots:\n" + "\n".join(f"{n}. Slot {n}" for n in range(1, 13)))


def test_labels_are_shortened_at_a_word_boundary() -> None:
    reply = repair(
        {"kind": "buttons", "text": "Choose", "options": options("Tuesday afternoon at three")}
    )

    assert reply == ButtonsReply("Choose", (Option("option-1", "Tuesday afternoon…"),))
    assert shorten("Supercalifragilisticexpialidocious", 20) == "Supercalifragilisti…"
    assert shorten("short", 20) == "short"


def test_titles_that_collide_once_shortened_make_a_list() -> None:
    reply = repair(
        {
            "kind": "buttons",
            "text": "Which one?",
            "options": options("Appointment on Tuesday", "Appointment on Thursday"),
        }
    )

    assert isinstance(reply, ListReply)
    assert [row.title for row in reply.rows] == [
        "Appointment on Tuesday",
        "Appointment on Thursday",
    ]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, TextReply(NOTHING)),
        ({"kind": "", "text": "Hello"}, TextReply("Hello")),
        ({"kind": "carousel", "text": "Hello"}, TextReply("Hello")),
        ({"kind": "buttons", "text": "Hello"}, TextReply("Hello")),
        ({"kind": "list", "text": "Hi", "options": "a, b"}, TextReply("Hi")),
        ({"kind": "cta_url", "text": "Book here"}, TextReply("Book here")),
        (
            {"kind": "cta_url", "text": "Book", "url": "javascript:alert(1)"},
            TextReply("Book javascript:alert(1)"),
        ),
        ({"kind": "TEXT", "text": 42}, TextReply("42")),
    ],
)
def test_a_kind_without_what_it_needs_is_text(
    arguments: Mapping[str, object], expected: Reply
) -> None:
    assert repair(arguments) == expected


def test_a_cta_without_a_label_or_body_uses_the_address() -> None:
    reply = repair({"kind": "cta_url", "url": "https://lina.example/book?x=1"})

    assert reply == CtaUrlReply(
        "https://lina.example/book?x=1", "lina.example", "https://lina.example/book?x=1"
    )


def test_a_body_too_long_for_buttons_is_text_with_the_options() -> None:
    body = "word " * 300

    reply = repair({"kind": "buttons", "text": body, "options": options("Yes", "No")})

    assert isinstance(reply, TextReply)
    assert reply.text.endswith("word\n1. Yes\n2. No")


def test_text_too_long_is_shortened_to_a_text_message() -> None:
    reply = repair({"kind": "text", "text": "word " * 1000})

    assert isinstance(reply, TextReply)
    assert len(reply.text) <= 4096 and reply.text.endswith("word…")


def test_the_schema_offers_every_kind_and_requires_a_kind_and_text() -> None:
    properties = REPLY_SCHEMA["properties"]
    assert isinstance(properties, dict)
    assert properties["kind"]["enum"] == list(KINDS)
    assert REPLY_SCHEMA["required"] == ["kind", "text"]
    json.dumps(REPLY_SCHEMA)  # a tool's parameters travel as JSON


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
LONG_TEXT = st.text(min_size=0, max_size=1100) | st.text(alphabet=" ab\n😀", max_size=5000)
OPTION = (
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.text(max_size=300) | JSON,
            "title": st.text(max_size=40) | JSON,
            "description": st.text(max_size=100) | JSON,
        },
    )
    | JSON
)
WILD = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from([*KINDS, "", "BUTTONS", "carousel"]) | JSON,
        "text": LONG_TEXT | JSON,
        "options": st.lists(OPTION, max_size=14) | JSON,
        "list_button": st.text(max_size=30) | JSON,
        "url": st.sampled_from(
            ["https://a.example/x", "http://b", "ftp://c", "", " https://d.example"]
        )
        | st.text(max_size=30)
        | JSON,
        "url_label": st.text(max_size=30) | JSON,
    },
)


# Arguments a model plausibly writes: a known kind, options with text titles, near the limits.
LABEL = st.text(alphabet=st.sampled_from("ab 😀\né"), max_size=30) | st.text(max_size=30)
FOCUSED = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(KINDS),
        "text": st.text(max_size=30) | LONG_TEXT,
        "options": st.lists(
            st.fixed_dictionaries(
                {"title": LABEL},
                optional={"id": st.sampled_from(["a", "b", "", " "]), "description": LABEL},
            ),
            max_size=12,
        ),
    },
    optional={
        "list_button": LABEL,
        "url": st.sampled_from(["https://a.example/x", "http://b", "ftp://c", "https://"]),
        "url_label": LABEL,
    },
)
ARGUMENTS = WILD | FOCUSED


@settings(max_examples=400, deadline=None)
@given(ARGUMENTS)
def test_any_arguments_give_a_reply_within_the_limits(arguments: dict[str, Any]) -> None:
    reply = repair(arguments)

    assert problem_of(reply) is None, (arguments, reply)
    as_message_content(reply)[2].encode("utf-8")  # sendable as it is


@settings(max_examples=200, deadline=None)
@given(ARGUMENTS)
def test_repair_is_deterministic_and_keeps_what_it_returns(arguments: dict[str, Any]) -> None:
    assert repair(arguments) == repair(arguments)
