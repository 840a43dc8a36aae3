"""Log lines, plain and JSON, with the trace and span ids of the active span."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from threadline.servicekit.logs import JsonFormatter, PlainFormatter, configure_logging

TRACER = TracerProvider().get_tracer("tests.logs")  # its own provider: nothing global


@pytest.fixture
def restored_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(
        "threadline.tests", logging.WARNING, __file__, 1, message, args, exc_info
    )


def test_a_json_line_has_time_level_service_logger_and_message_without_a_span() -> None:
    line = JsonFormatter("outbound").format(record("sent %d of %s", 3, "4"))

    entry = json.loads(line)
    assert "\n" not in line
    assert entry.pop("time").endswith("+00:00")
    assert entry == {
        "level": "WARNING",
        "service": "outbound",
        "logger": "threadline.tests",
        "message": "sent 3 of 4",
    }


def test_a_json_line_in_a_span_carries_its_trace_and_span_ids_in_hex() -> None:
    with TRACER.start_as_current_span("work") as span:
        entry = json.loads(JsonFormatter("session").format(record("inside")))
        ids = span.get_span_context()

    assert entry["trace_id"] == f"{ids.trace_id:032x}"
    assert entry["span_id"] == f"{ids.span_id:016x}"
    assert len(entry["trace_id"]) == 32 and len(entry["span_id"]) == 16


def test_a_json_line_carries_the_exception_as_one_string() -> None:
    try:
        raise ValueError('bad "quoted"\nthing')
    except ValueError as error:
        line = JsonFormatter("ingest").format(record("failed", exc=error))

    assert len(line.splitlines()) == 1
    entry = json.loads(line)
    assert isinstance(entry["exc_info"], str)
    assert entry["exc_info"].startswith("Traceback (most recent call last):")
    assert entry["exc_info"].endswith('ValueError: bad "quoted"\nthing')


def test_a_plain_line_is_unchanged_without_a_span_and_names_the_trace_within_one() -> None:
    formatter = PlainFormatter("analytics")

    outside = formatter.format(record("hello"))
    with TRACER.start_as_current_span("work") as span:
        inside = formatter.format(record("hello"))
    trace_id = f"{span.get_span_context().trace_id:032x}"

    assert outside.split(" ", 2)[2] == "WARNING analytics threadline.tests: hello"
    assert inside.split(" ", 2)[2] == (
        f"WARNING analytics threadline.tests trace_id={trace_id}: hello"
    )


@pytest.mark.usefixtures("restored_root")
def test_the_environment_chooses_json_and_an_unknown_format_is_plain_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THREADLINE_LOG_FORMAT", "JSON")
    configure_logging("gateway")
    assert isinstance(logging.getLogger().handlers[0].formatter, JsonFormatter)

    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setenv("THREADLINE_LOG_FORMAT", "logfmt")
    configure_logging("gateway")

    assert isinstance(logging.getLogger().handlers[0].formatter, PlainFormatter)
    (line,) = stream.getvalue().splitlines()
    assert line.endswith(
        "THREADLINE_LOG_FORMAT 'logfmt' is not one of plain, json; logging plain text"
    )
