"""The pacer with a fake clock: the time of each send is what `reserve` says plus `now`."""

import pytest

from threadline.outbound.domain.pacing import Pacer, PacingSettings, ThrottleScope

NUMBER, OTHER_NUMBER = "106540352242922", "106540352242923"


def send_times(pacer: Pacer, count: int, *, now: float = 0.0, number: str = NUMBER) -> list[float]:
    """When `count` sends to different recipients, all asked for at `now`, may go."""
    return [now + pacer.reserve(number, f"recipient-{n}", now) for n in range(count)]


def test_a_burst_goes_at_once_then_one_send_per_interval() -> None:
    pacer = Pacer(PacingSettings(rate=10, burst=3))

    times = send_times(pacer, 6)

    assert times == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


def test_a_long_run_holds_the_rate() -> None:
    pacer = Pacer(PacingSettings(rate=80, burst=10))

    times = send_times(pacer, 800)

    # 10 at once, then the rest at 80 a second, and never more than 80 in any second (plus the
    # 20 ms margin): what an API counting sends per second strictly takes without a 130429.
    window = 1.02 - 1e-9  # the margin, less float rounding
    in_any_second = max(sum(1 for t in times if start <= t < start + window) for start in times)
    assert in_any_second == 80
    assert 0.98 * 80 <= (800 - 80) / (times[-1] - times[79]) <= 80


def test_an_idle_number_has_its_burst_back() -> None:
    pacer = Pacer(PacingSettings(rate=10, burst=3))
    send_times(pacer, 6)

    assert send_times(pacer, 3, now=10.0) == [10.0, 10.0, 10.0]


def test_numbers_have_budgets_of_their_own() -> None:
    pacer = Pacer(PacingSettings(rate=10, burst=1))
    send_times(pacer, 5)

    assert pacer.reserve(OTHER_NUMBER, "recipient-0", 0.0) == 0.0


def test_sends_to_one_recipient_are_spaced_by_the_recipient_interval() -> None:
    pacer = Pacer(PacingSettings(rate=1000, burst=10, recipient_interval=0.25))

    assert pacer.recipient_wait(NUMBER, "16505551234", 0.0) == 0.0
    assert pacer.reserve(NUMBER, "16505551234", 0.0) == 0.0

    assert pacer.recipient_wait(NUMBER, "16505551234", 0.1) == pytest.approx(0.15)
    assert pacer.recipient_wait(NUMBER, "16505550000", 0.1) == 0.0  # another recipient
    assert pacer.reserve(NUMBER, "16505551234", 0.25) == 0.0
    assert pacer.recipient_wait(NUMBER, "16505551234", 0.25) == pytest.approx(0.25)


def test_a_recipient_waiting_for_its_turn_does_not_hold_the_numbers_budget() -> None:
    pacer = Pacer(PacingSettings(rate=10, burst=1, recipient_interval=5.0))
    pacer.reserve(NUMBER, "slow", 0.0)

    assert pacer.recipient_wait(NUMBER, "slow", 0.1) == pytest.approx(4.9)
    assert send_times(pacer, 2, now=0.1) == pytest.approx([0.1, 0.2])


def test_a_throughput_throttle_halves_the_rate_once_per_pause_and_pauses_the_number() -> None:
    pacer = Pacer(PacingSettings(rate=80, burst=1, pause=1.0, recover_after=10.0))

    pacer.throttled(NUMBER, "r", ThrottleScope.NUMBER, 5.0)
    pacer.throttled(NUMBER, "r", ThrottleScope.NUMBER, 5.1)  # sent before the first answer

    assert pacer.rate(NUMBER, 5.1) == 40
    assert pacer.reserve(NUMBER, "r", 5.1) == pytest.approx(6.1 - 5.1)
    pacer.throttled(NUMBER, "r", ThrottleScope.NUMBER, 6.2)  # still too fast after the pause
    assert pacer.rate(NUMBER, 6.2) == 20
    assert pacer.rate(OTHER_NUMBER, 6.2) == 80


def test_a_throughput_throttle_lowers_the_rate_to_what_whatsapp_took_in_the_last_second() -> None:
    # Configured for 200/s; WhatsApp took 120 sends in the second before saying "too fast".
    pacer = Pacer(PacingSettings(rate=200, burst=1, pause=1.0, recover_after=10.0))
    for n in range(150):
        pacer.accepted(NUMBER, 9.0 + n / 150)  # 150 over [9.0, 10.0)
    for n in range(120):
        pacer.accepted(NUMBER, 10.0 + (n + 1) / 120)  # 120 over (10.0, 11.0]

    pacer.throttled(NUMBER, "r", ThrottleScope.NUMBER, 11.0)

    assert pacer.rate(NUMBER, 11.0) == pytest.approx(120 * 0.95)
    assert pacer.rate(NUMBER, 21.0) == pytest.approx(120 * 0.95 * 1.1)  # probing up gently
    # Nothing accepted to learn from (a quiet number told "too fast"): halved.
    pacer.throttled(OTHER_NUMBER, "r", ThrottleScope.NUMBER, 11.0)
    assert pacer.rate(OTHER_NUMBER, 11.0) == 100


def test_a_throttle_lowers_the_rate_even_when_whatsapp_took_more_than_it() -> None:
    pacer = Pacer(PacingSettings(rate=80, burst=1, pause=1.0))
    for n in range(90):
        pacer.accepted(NUMBER, 0.5 + n / 100)

    pacer.throttled(NUMBER, "r", ThrottleScope.NUMBER, 1.4)

    assert pacer.rate(NUMBER, 1.4) == pytest.approx(80 / 1.05)


def test_a_slowed_number_recovers_one_step_per_quiet_period() -> None:
    pacer = Pacer(PacingSettings(rate=80, pause=1.0, recover_after=10.0, min_rate=1.0))
    for at in range(10):  # throttled every second: down to the floor
        pacer.throttled(NUMBER, "r", ThrottleScope.NUMBER, float(at))
    assert pacer.rate(NUMBER, 9.0) == 1.0

    assert pacer.rate(NUMBER, 18.9) == 1.0
    assert pacer.rate(NUMBER, 19.0) == 2.0
    assert pacer.rate(NUMBER, 49.0) == 16.0
    assert pacer.rate(NUMBER, 200.0) == 80.0


def test_a_pair_rate_limit_spaces_that_recipient_out_then_recovers() -> None:
    pacer = Pacer(PacingSettings(pair_interval=1.0, max_pair_interval=6.0, recover_after=10.0))

    pacer.throttled(NUMBER, "u", ThrottleScope.RECIPIENT, 0.0)
    assert pacer.recipient_interval(NUMBER, "u", 0.0) == 1.0
    assert pacer.recipient_wait(NUMBER, "u", 0.0) == pytest.approx(1.0)
    assert pacer.recipient_wait(NUMBER, "other", 0.0) == 0.0
    assert pacer.reserve(NUMBER, "u", 1.0) == 0.0
    assert pacer.recipient_wait(NUMBER, "u", 1.0) == pytest.approx(1.0)
    for at in (1.0, 3.0, 7.0, 13.0):
        pacer.throttled(NUMBER, "u", ThrottleScope.RECIPIENT, at)
    assert pacer.recipient_interval(NUMBER, "u", 13.0) == 6.0  # 1, 2, 4, 6: no more

    assert pacer.recipient_interval(NUMBER, "u", 23.0) == 3.0
    assert pacer.recipient_interval(NUMBER, "u", 33.0) == 1.5
    assert pacer.recipient_interval(NUMBER, "u", 43.0) == 0.0  # the configured pace again


def test_many_recipients_are_forgotten_once_idle() -> None:
    pacer = Pacer(PacingSettings(rate=1000, recipient_interval=0.0))
    for n in range(10_000):
        pacer.reserve(NUMBER, f"recipient-{n}", 1000.0 + n)

    assert len(pacer._recipients) < 5000


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid pacing"):
        PacingSettings(rate=0)
