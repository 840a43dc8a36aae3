"""Customer-data fields (issue 12): answers accepted in one written form, or refused with a hint."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from threadline.rules.fields import (
    Accepted,
    Choice,
    DefinitionError,
    FieldKind,
    FieldSpec,
    Refused,
    parse_date,
    parse_field,
    validate,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
# Friday 2026-12-04 02:00 UTC is still Thursday 2026-12-03 23:00 in São Paulo.
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)  # a Thursday


def accepted(spec: FieldSpec, text: str) -> str:
    outcome = validate(spec, text, NOW, SAO_PAULO)
    assert isinstance(outcome, Accepted), f"{text!r} refused: {outcome}"
    return outcome.value


def refused(spec: FieldSpec, text: str) -> str:
    outcome = validate(spec, text, NOW, SAO_PAULO)
    assert isinstance(outcome, Refused), f"{text!r} accepted as {outcome}"
    return outcome.hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", date(2026, 12, 3)),
        ("Hoje", date(2026, 12, 3)),
        ("tomorrow", date(2026, 12, 4)),
        ("amanhã", date(2026, 12, 4)),
        ("Amanha!", date(2026, 12, 4)),
        ("mañana", date(2026, 12, 4)),
        ("depois de amanhã", date(2026, 12, 5)),
        ("pasado mañana", date(2026, 12, 5)),
        ("the day after tomorrow", date(2026, 12, 5)),
        ("2026-12-25", date(2026, 12, 25)),
        ("25/12", date(2026, 12, 25)),
        ("25/12/2026", date(2026, 12, 25)),
        ("25-12-27", date(2027, 12, 25)),
        ("25.12", date(2026, 12, 25)),
        ("2/1", date(2027, 1, 2)),  # January has passed this year: next year's
        ("25 de dezembro", date(2026, 12, 25)),
        ("December 25", date(2026, 12, 25)),
        ("25th Dec 2026", date(2026, 12, 25)),
        ("12 de enero", date(2027, 1, 12)),
        ("friday", date(2026, 12, 4)),
        ("on Friday", date(2026, 12, 4)),
        ("thursday", date(2026, 12, 10)),  # today is Thursday: the next one
        ("segunda-feira", date(2026, 12, 7)),
        ("sábado", date(2026, 12, 5)),
        ("el lunes", date(2026, 12, 7)),
        ("sexta que vem", date(2026, 12, 4)),
        ("na próxima terça", date(2026, 12, 8)),
        ("el viernes que viene", date(2026, 12, 4)),
        ("this coming Monday", date(2026, 12, 7)),
        ("25 de dezembro de 2027", date(2027, 12, 25)),
        ("miércoles", date(2026, 12, 9)),
    ],
)
def test_dates_in_common_forms_and_words_are_understood(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["31/02/2026", "32/1", "soon", "13/13", "next week maybe", ""])
def test_what_names_no_day_is_not_a_date(text: str) -> None:
    assert parse_date(text, TODAY) is None


def test_today_is_the_business_s_today_in_its_timezone() -> None:
    spec = FieldSpec("day", FieldKind.DATE)
    assert accepted(spec, "today") == "2026-12-03"  # UTC has passed midnight, São Paulo not
    assert validate(spec, "today", NOW, ZoneInfo("Asia/Tokyo")) == Accepted("2026-12-04")


def test_a_future_only_date_refuses_the_past_with_its_hint() -> None:
    spec = FieldSpec("day", FieldKind.DATE, future_only=True)
    assert accepted(spec, "2026-12-03") == "2026-12-03"
    assert "from today on" in refused(spec, "2026-12-02")
    assert accepted(FieldSpec("born", FieldKind.DATE), "1990-05-17") == "1990-05-17"
    custom = FieldSpec("day", FieldKind.DATE, hint="Quando? Ex.: 25/12", future_only=True)
    assert refused(custom, "ontem talvez") == "Quando? Ex.: 25/12"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:30", "14:30"),
        ("9:05", "09:05"),
        ("14h30", "14:30"),
        ("14h", "14:00"),
        ("às 14h", "14:00"),
        ("14.30", "14:30"),
        ("2pm", "14:00"),
        ("2:30 pm", "14:30"),
        ("12am", "00:00"),
        ("11 a.m.", "11:00"),
        ("noon", "12:00"),
        ("meio-dia", "12:00"),
        ("mediodía", "12:00"),
        ("at 9", "09:00"),
    ],
)
def test_times_are_hours_and_minutes(text: str, expected: str) -> None:
    assert accepted(FieldSpec("at", FieldKind.TIME), text) == expected


@pytest.mark.parametrize("text", ["25:00", "14:75", "13pm", "later", "2 o'clock-ish"])
def test_what_is_not_a_time_is_refused(text: str) -> None:
    assert refused(FieldSpec("at", FieldKind.TIME), text) == "Please send a time like 14:30 or 2pm."


def test_names_keep_the_customer_s_capitals_or_get_them() -> None:
    spec = FieldSpec("name", FieldKind.NAME)
    assert accepted(spec, "  maria   da silva ") == "Maria da Silva"
    assert accepted(spec, "JOSÉ O'NEILL-PÉREZ") == "José O'neill-Pérez"
    assert accepted(spec, "McDonald van Dyke") == "McDonald van Dyke"
    assert accepted(spec, "محمد علي") == "محمد علي"
    for text in ("", "123", "Ana 2", "ana@example.com"):
        assert refused(spec, text) == "Please send your name, letters only."


def test_emails_get_a_lower_case_domain() -> None:
    spec = FieldSpec("email", FieldKind.EMAIL)
    assert accepted(spec, "Ana.Silva+salon@Example.COM") == "Ana.Silva+salon@example.com"
    for text in ("ana", "ana@", "ana@example", "ana..b@example.com", "a b@example.com", "a@1.2"):
        assert "name@example.com" in refused(spec, text)


def test_phones_are_international_digits() -> None:
    spec = FieldSpec("phone", FieldKind.PHONE)
    assert accepted(spec, "+55 (11) 91234-5678") == "+5511912345678"
    assert accepted(spec, "0044 20 7946 0958") == "+442079460958"
    assert accepted(spec, "5511912345678") == "+5511912345678"
    national = FieldSpec("phone", FieldKind.PHONE, country_code="+44")
    assert accepted(national, "020 7946 0958") == "+442079460958"
    for text in ("12345", "+1 234 567 890 123 456", "call me", "+55 11 9123x5678"):
        assert "country code" in refused(spec, text)


def test_numbers_are_decimals_within_bounds() -> None:
    spec = FieldSpec("people", FieldKind.NUMBER, minimum=Decimal(1), maximum=Decimal(8))
    assert accepted(spec, "2") == "2"
    assert accepted(spec, "2,50") == "2.5"
    assert accepted(spec, "7.0") == "7"
    assert refused(spec, "9") == "Please send a number from 1 up to 8."
    assert refused(spec, "two") == "Please send a number from 1 up to 8."
    whole = FieldSpec("people", FieldKind.NUMBER, integer=True)
    assert accepted(whole, "-3") == "-3"
    assert refused(whole, "2.5") == "Please send a number."


def test_a_choice_is_its_id_by_id_title_or_position() -> None:
    spec = FieldSpec(
        "service",
        FieldKind.CHOICE,
        options=(Choice("cut", "Corte"), Choice("color", "Coloração"), Choice("nails", "Unhas")),
    )
    assert accepted(spec, "cut") == "cut"
    assert accepted(spec, "COLORACAO") == "color"
    assert accepted(spec, "unhas") == "nails"
    assert accepted(spec, "2") == "color"
    assert refused(spec, "4") == "Please choose one of: Corte, Coloração, Unhas."
    assert refused(spec, "massage") == "Please choose one of: Corte, Coloração, Unhas."


def test_text_is_anything_not_empty_within_its_length() -> None:
    spec = FieldSpec("note", FieldKind.TEXT, max_length=10)
    assert accepted(spec, " short\n note ") == "short note"
    assert refused(spec, "   ") == "Please send a short text."
    assert refused(spec, "far too long for this") == "Please send a short text."


def test_a_field_is_read_from_a_mapping() -> None:
    spec = parse_field(
        {
            "field": "service",
            "type": "choice",
            "hint": "Tap one",
            "options": ["Corte", {"id": "color", "title": "Coloração", "description": "2h"}],
        },
        "steps[1].ask",
    )
    assert spec == FieldSpec(
        "service",
        FieldKind.CHOICE,
        hint="Tap one",
        options=(Choice("Corte", "Corte"), Choice("color", "Coloração", "2h")),
    )
    number = parse_field({"field": "people", "type": "number", "minimum": 1}, "x")
    assert number.minimum == Decimal(1) and number.kind is FieldKind.NUMBER


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "date"}, "steps[1].ask.field: is required"),
        ({"field": "Date"}, "steps[1].ask.field: 'Date' must be lower_snake_case"),
        ({"field": "d", "type": "colour"}, "steps[1].ask.type: unknown type 'colour'"),
        ({"field": "d", "type": "choice"}, "steps[1].ask.options: a choice needs options"),
        ({"field": "d", "type": "choice", "options": "a"}, "steps[1].ask.options: must be a list"),
        (
            {"field": "d", "type": "choice", "options": ["A", "a"]},
            "steps[1].ask.options: option ids must be different",
        ),
        ({"field": "d", "future_only": "yes"}, "steps[1].ask.future_only: must be true or false"),
        ({"field": "d", "minimum": "one"}, "steps[1].ask.minimum: must be a number"),
        ("date", "steps[1].ask: must be a mapping"),
    ],
)
def test_a_field_definition_s_mistake_names_its_path(raw: object, message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_field(raw, "steps[1].ask")
    assert str(raised.value).startswith(message)


def test_a_kind_s_hint_speaks_the_flow_s_language_and_the_spec_s_own_wins() -> None:
    date_spec = FieldSpec("day", FieldKind.DATE, future_only=True)
    hint = validate(date_spec, "ontem", NOW, SAO_PAULO, "pt_BR")
    assert hint == Refused("Por favor, envie uma data de hoje em diante, como 25/12 ou amanhã.")
    number = FieldSpec("people", FieldKind.NUMBER, minimum=Decimal(1), maximum=Decimal(8))
    assert number.hint_in("es") == "Por favor, envía un número desde 1 hasta 8."
    assert number.hint_in("de") == "Please send a number from 1 up to 8."  # none in German
    options = (Choice("cut", "Corte"), Choice("color", "Coloração"))
    choice = FieldSpec("service", FieldKind.CHOICE, options=options)
    assert choice.hint_in("pt") == "Por favor, escolha uma destas: Corte, Coloração."
    assert FieldSpec("x", FieldKind.TIME, hint="Que horas?").hint_in("es") == "Que horas?"
    for kind in FieldKind:
        for language in ("en", "pt", "es"):
            assert FieldSpec("x", kind, options=options).hint_in(language)
