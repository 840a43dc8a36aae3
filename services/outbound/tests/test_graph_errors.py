import pytest

from threadline.outbound.adapters.outbound.graph_errors import (
    error_from_response,
    network_error,
    unexpected_answer,
)
from threadline.outbound.application.ports import GraphApiThrottled
from threadline.outbound.domain.failure import NO_CODE
from threadline.outbound.domain.pacing import ThrottleScope


def graph_error_body(code: int, message: str, details: str = "", **extra: object) -> object:
    error: dict[str, object] = {"message": message, "type": "OAuthException", "code": code}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": {**error, **extra, "fbtrace_id": "AbC123"}}


def test_graph_error_body_gives_code_message_and_details() -> None:
    body = graph_error_body(131026, "(#131026) Message Undeliverable.", "Cannot be reached")

    failure = error_from_response(400, body).failure

    assert failure.code == 131026
    assert failure.title == "Message Undeliverable."
    assert failure.message == "(#131026) Message Undeliverable."
    assert failure.details == "Cannot be reached"


def test_user_title_is_preferred_as_title() -> None:
    body = graph_error_body(100, "(#100) Invalid parameter", error_user_title="Bad phone number")

    failure = error_from_response(400, body).failure

    assert failure.title == "Bad phone number"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, 131000),  # something went wrong
        (400, 80007),  # WABA rate limit
        (500, 100),  # any 5xx
        (503, 2),
        (429, 4),
    ],
)
def test_transient_failures_are_retryable(status: int, code: int) -> None:
    body = graph_error_body(code, f"(#{code}) whatever")

    assert error_from_response(status, body).failure.retryable


@pytest.mark.parametrize(
    ("code", "scope"),
    [(130429, ThrottleScope.NUMBER), (131056, ThrottleScope.RECIPIENT)],
)
def test_throughput_and_pair_rate_limits_say_slow_down_not_failed(
    code: int, scope: ThrottleScope
) -> None:
    error = error_from_response(400, graph_error_body(code, f"(#{code}) Rate limit hit"))

    assert isinstance(error, GraphApiThrottled)
    assert error.scope is scope
    assert error.failure.code == code


def test_other_errors_are_not_throttles() -> None:
    error = error_from_response(400, graph_error_body(80007, "(#80007) Rate limit issues"))

    assert not isinstance(error, GraphApiThrottled)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, 100),  # invalid parameter
        (400, 131026),  # undeliverable
        (400, 131047),  # re-engagement: outside the 24-hour window
        (401, 190),  # access token expired or invalid
        (400, 131062),  # a BSUID cannot receive this message
        (400, 132001),  # template does not exist
    ],
)
def test_permanent_failures_are_not_retryable(status: int, code: int) -> None:
    body = graph_error_body(code, f"(#{code}) whatever")

    assert not error_from_response(status, body).failure.retryable


def test_meta_saying_transient_makes_any_code_retryable() -> None:
    body = graph_error_body(100, "(#100) Try later", is_transient=True)

    assert error_from_response(400, body).failure.retryable


def test_body_that_is_not_a_graph_error_is_classified_by_status() -> None:
    bad_gateway = error_from_response(502, None, "<html>Bad Gateway</html>").failure
    not_found = error_from_response(404, None, "Not Found").failure

    assert (bad_gateway.code, bad_gateway.title, bad_gateway.retryable) == (
        NO_CODE,
        "HTTP 502",
        True,
    )
    assert (not_found.title, not_found.retryable) == ("HTTP 404", False)


def test_network_failure_is_retryable() -> None:
    failure = network_error(ConnectionResetError("reset by peer")).failure

    assert failure.retryable
    assert "reset by peer" in failure.message


def test_accepted_answer_without_wamid_is_never_retried() -> None:
    failure = unexpected_answer(200, '{"messages": []}', expected="messages[0].id").failure

    assert not failure.retryable
    assert failure.message == 'HTTP 200 without messages[0].id: {"messages": []}'
