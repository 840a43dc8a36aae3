"""WhatsApp's limits for what a business sends, checked on the Cloud API `interactive` object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from threadline.rules.whatsapp_limits import interactive_problem, is_web_url, text_problem


def buttons(*titles: str) -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": "When would you like to come?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": title}}
                for i, title in enumerate(titles)
            ]
        },
    }


def rows(count: int, *, sections: int = 1) -> dict[str, Any]:
    per = [count // sections + (1 if i < count % sections else 0) for i in range(sections)]
    made, numbered = [], 0
    for index, size in enumerate(per):
        section_rows = []
        for _ in range(size):
            section_rows.append({"id": f"r{numbered}", "title": f"Row {numbered}"})
            numbered += 1
        made.append({"title": f"Section {index}", "rows": section_rows})
    return {
        "type": "list",
        "header": {"type": "text", "text": "Our services"},
        "body": {"text": "Pick one"},
        "footer": {"text": "Lina's Hair Salon"},
        "action": {"button": "See services", "sections": made},
    }


def cta(url: str = "https://example.com/book", label: str = "Book now") -> dict[str, Any]:
    return {
        "type": "cta_url",
        "body": {"text": "Book online"},
        "action": {"name": "cta_url", "parameters": {"display_text": label, "url": url}},
    }


def changed(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`payload` with the value at the dotted `path` replaced (a number indexes a list)."""
    result = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return result


@pytest.mark.parametrize(
    "payload",
    [
        buttons("Yes"),
        buttons("Tuesday 3pm", "Wednesday 10am", "Another day"),
        buttons("x" * 20),
        buttons("😀" * 20),  # code points, not UTF-16 units or bytes
        rows(1),
        rows(10),
        rows(10, sections=10),
        cta(),
        cta("http://example.com", "Open"),
        {"type": "product", "action": {"catalog_id": "1", "product_retailer_id": "2"}},
    ],
)
def test_content_within_the_limits_passes(payload: dict[str, Any]) -> None:
    assert interactive_problem(payload) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (buttons("a", "b", "c", "d"), "interactive.action.buttons: at most 3 buttons, got 4"),
        (buttons(), "interactive.action.buttons: 1 to 3 reply buttons"),
        (
            buttons("x" * 21),
            "interactive.action.buttons[0].reply.title: at most 20 characters, got 21",
        ),
        (buttons("Yes", "Yes"), "interactive.action.buttons: button titles must be unique"),
        (buttons(""), "interactive.action.buttons[0].reply.title: must not be empty"),
        (
            changed(buttons("Yes", "No"), "action.buttons.1.reply.id", "b0"),
            "interactive.action.buttons: button ids must be unique",
        ),
        (
            changed(buttons("Yes"), "action.buttons.0.reply.id", "i" * 257),
            "interactive.action.buttons[0].reply.id: at most 256 characters",
        ),
        (
            changed(buttons("Yes"), "action.buttons.0", "Yes"),
            "interactive.action.buttons[0].reply: must be a JSON object",
        ),
        (
            changed(buttons("Yes"), "body.text", "b" * 1025),
            "interactive.body.text: at most 1024 characters, got 1025",
        ),
        ({"type": "button", "action": {}}, "interactive.body: required"),
        (rows(11), "interactive.action.sections: at most 10 rows in all, got 11"),
        (rows(11, sections=3), "interactive.action.sections: at most 10 rows in all, got 11"),
        (
            changed(rows(10), "action.sections", [{"rows": [{"id": "a", "title": "A"}]}] * 11),
            "interactive.action.sections: at most 10 sections, got 11",
        ),
        (
            changed(rows(2), "action.sections.0.rows.1.title", "t" * 25),
            "interactive.action.sections[0].rows[1].title: at most 24 characters, got 25",
        ),
        (
            changed(rows(2), "action.sections.0.rows.0.description", "d" * 73),
            "interactive.action.sections[0].rows[0].description: at most 72 characters, got 73",
        ),
        (
            changed(rows(2), "action.sections.0.rows.1.id", "r0"),
            "interactive.action.sections: row ids must be unique",
        ),
        (
            changed(rows(2), "action.button", "b" * 21),
            "interactive.action.button: at most 20 characters, got 21",
        ),
        (changed(rows(2), "action.button", ""), "interactive.action.button: must not be empty"),
        (
            changed(rows(2), "header.text", "h" * 61),
            "interactive.header.text: at most 60 characters, got 61",
        ),
        (
            changed(rows(2), "footer.text", "f" * 61),
            "interactive.footer.text: at most 60 characters, got 61",
        ),
        (
            changed(rows(4, sections=2), "action.sections.1.title", None),
            "interactive.action.sections[1].title: required",
        ),
        (changed(rows(1), "action.sections", []), "interactive.action.sections: 1 to 10"),
        (
            changed(rows(1), "action.sections.0.rows", []),
            "interactive.action.sections[0].rows: at least 1 row",
        ),
        (
            cta(label="l" * 21),
            "interactive.action.parameters.display_text: at most 20 characters, got 21",
        ),
        (cta(url="ftp://example.com/x"), "interactive.action.parameters.url: an http(s) URL"),
        (cta(url="https://"), "interactive.action.parameters.url: an http(s) URL"),
        (cta(url="book now"), "interactive.action.parameters.url: an http(s) URL"),
        (cta(url=""), "interactive.action.parameters.url: must not be empty"),
        (changed(cta(), "action.name", "url"), "interactive.action.name: must be 'cta_url'"),
        (
            changed(cta(), "body.text", "b" * 1025),
            "interactive.body.text: at most 1024 characters, got 1025",
        ),
        ({"type": "carousel"}, "interactive.type: one of"),
        ({}, "interactive.type: one of"),
        ([], "interactive: must be a JSON object"),
        ({"type": "button", "body": {"text": "b"}}, "interactive.action: must be a JSON object"),
        ({"type": "button", "body": "b"}, "interactive.body: must be a JSON object"),
        ({"type": "button", "body": {"text": 3}}, "interactive.body.text: must be a string"),
    ],
)
def test_the_first_broken_limit_is_named(payload: Any, expected: str) -> None:
    problem = interactive_problem(payload)

    assert problem is not None and problem.startswith(expected), problem


def test_a_text_body_holds_4096_code_points() -> None:
    assert text_problem("é" * 4096) is None
    assert text_problem("é" * 4097) == "text.body: at most 4096 characters, got 4097"
    assert text_problem("  ") == "text.body: must not be empty"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com", True),
        ("HTTP://example.com/a?b=c", True),
        ("https://", False),
        ("mailto:a@example.com", False),
        ("javascript:alert(1)", False),
        ("https://exa mple.com", False),
        (" https://example.com", False),
        ("https://[::1", False),
    ],
)
def test_a_cta_opens_web_urls_only(url: str, ok: bool) -> None:
    assert is_web_url(url) is ok
