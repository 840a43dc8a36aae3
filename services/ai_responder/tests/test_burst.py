"""The burst rule, pure: the wait, its cap, claims and their lease, what an answer covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threadline.ai_responder.domain.burst import MAX_MESSAGES, Burst

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DELAY, MAX_WAIT, LEASE = timedelta(seconds=2), timedelta(seconds=10), timedelta(seconds=60)


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def a_burst() -> Burst:
    return Burst.start("conv-1", delay=DELAY, max_wait=MAX_WAIT)


def test_an_empty_burst_is_never_due() -> None:
    assert a_burst().due_at is None
    assert not a_burst().is_due(seconds(100), LEASE)


def test_a_due_burst_waits_until_every_message_sent_before_it_is_due_is_heard() -> None:
    burst = a_burst().with_message("m1", seconds(0))  # due at 2 s

    assert not burst.is_due(seconds(5), LEASE, heard_until=seconds(1.9))
    assert burst.is_due(seconds(5), LEASE, heard_until=seconds(2))
    assert not burst.is_due(seconds(1), LEASE, heard_until=seconds(5))  # not due yet anyway


def test_messages_heard_out_of_order_are_kept_in_the_order_they_were_stored() -> None:
    burst = a_burst().with_message("m2", seconds(1.5)).with_message("m1", seconds(0))

    assert burst.message_ids == ("m1", "m2")
    assert burst.due_at == seconds(3.5)  # the wait after the later one
    assert burst.first_at == seconds(0)


def test_each_message_restarts_the_wait() -> None:
    burst = a_burst().with_message("m1", seconds(0)).with_message("m2", seconds(1.5))

    assert burst.due_at == seconds(3.5)
    assert not burst.is_due(seconds(3), LEASE)
    assert burst.is_due(seconds(3.5), LEASE)
    assert burst.message_ids == ("m1", "m2")
    assert burst.first_at == seconds(0) and burst.last_at == seconds(1.5)


def test_the_maximum_wait_caps_a_burst_that_never_pauses() -> None:
    burst = a_burst()
    for n in range(12):
        burst = burst.with_message(f"m{n}", seconds(n))

    assert burst.due_at == seconds(10)


def test_a_redelivered_message_changes_nothing() -> None:
    burst = a_burst().with_message("m1", seconds(0))

    assert burst.with_message("m1", seconds(5)) is burst


def test_a_claim_hides_the_burst_until_its_lease_expires() -> None:
    claimed = a_burst().with_message("m1", seconds(0)).claimed("a", seconds(2))

    assert claimed.claim is not None and claimed.claim.generation == 1
    assert not claimed.is_due(seconds(61), LEASE)
    assert claimed.is_due(seconds(62), LEASE)
    assert claimed.released().is_due(seconds(2), LEASE)


def test_a_new_message_makes_the_claim_stale_and_the_wait_restart() -> None:
    claimed = a_burst().with_message("m1", seconds(0)).claimed("a", seconds(2))

    extended = claimed.with_message("m2", seconds(3))

    assert extended.claim is None
    assert extended.due_at == seconds(5)
    assert extended.claimed("b", seconds(5)).claim.generation == 2  # type: ignore[union-attr]


def test_an_answer_forgets_what_it_covered_and_keeps_what_came_after() -> None:
    answered = a_burst().with_message("m1", seconds(0)).with_message("m2", seconds(1))
    covered = answered.message_ids
    later = answered.claimed("a", seconds(3)).with_message("m3", seconds(4))

    left = later.answered_with(covered)

    assert left.message_ids == ("m3",)
    assert left.first_at == seconds(4) and left.due_at == seconds(6)
    assert left.claim is None
    assert left.holds("m1") and left.with_message("m1", seconds(7)) is left


def test_an_answered_burst_waits_for_the_next_message() -> None:
    burst = a_burst().with_message("m1", seconds(0))
    done = burst.answered_with(burst.message_ids)

    assert done.due_at is None
    assert done.with_message("m2", seconds(30)).due_at == seconds(32)


def test_a_burst_remembers_its_last_messages_only() -> None:
    burst = a_burst()
    for n in range(MAX_MESSAGES + 5):
        burst = burst.with_message(f"m{n}", seconds(0.1 * n))

    assert len(burst.message_ids) == MAX_MESSAGES
    assert burst.message_ids[-1] == f"m{MAX_MESSAGES + 4}"
    assert burst.first_at == seconds(0)  # the wait still began with the first message
