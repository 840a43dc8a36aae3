"""The short `make fuzz`: a few hundred hostile inputs against the whole platform, judged by
the same oracle (tests/fuzz), plus every reproduction of issue 8 and every input `make fuzz`
found, sent as found."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.campaign import Campaign, Settings, senders
from tests.fuzz.cases import SIGNINGS, Case, GrpcCase, HttpCase, IdPool, from_json, to_json
from tests.fuzz.files import FilesGenerator
from tests.fuzz.gateway import GatewayGenerator
from tests.fuzz.gateway import found_by_fuzzing as gateway_found_by_fuzzing
from tests.fuzz.grpc_cases import GrpcGenerator
from tests.fuzz.oracle import signature
from tests.fuzz.platform import in_process
from tests.fuzz.report import lines, save_failures
from tests.fuzz.webhooks import MAX_BODY, Numbers, WebhookGenerator, reproductions
from tests.fuzz.webhooks import found_by_fuzzing as webhooks_found_by_fuzzing
from threadline.ingest.adapters.inbound.signature import SignatureRejected, check_signature

SEED = int(os.environ.get("THREADLINE_FUZZ_SEED", "20261204"))


@pytest.mark.timeout(240)
async def test_hostile_inputs_stop_nothing_and_lose_nothing(
    nats_server_url: str, database_url: str, nats_namespace: str
) -> None:
    numbers = Numbers()
    settings = Settings(
        webhooks=180,
        requests=120,
        seed=SEED,
        stall_every=100,
        stall_seconds=20.0,
        drain_seconds=40.0,
        settle_seconds=30.0,
        extra=(
            *reproductions(random.Random(SEED), numbers),
            *webhooks_found_by_fuzzing(random.Random(SEED), numbers),
            *gateway_found_by_fuzzing(),
        ),
    )

    async with in_process(nats_server_url, database_url, nats_namespace, numbers) as target:
        figures = await Campaign(target, settings, progress=lambda line: None).run()

    report = "\n".join(lines(figures))
    saved = save_failures(figures, Path(".threadline/fuzz-failures") / f"test-seed{SEED}")
    assert figures.violations == [], f"{report}\ninputs saved in {saved}"
    fuzzed = sum(n for kind, n in figures.tried.items() if not kind.endswith(" follow_up"))
    assert fuzzed == 180 + 120 + len(settings.extra), report
    assert figures.valid_expected > 0 and figures.valid_once == figures.valid_expected, report
    assert figures.stall_checks >= 3 and figures.stalls == 0, report
    assert figures.follow_ups > 0 and figures.follow_ups_unanswered == 0, report


def test_only_the_valid_signing_signs_the_body() -> None:
    secret = "fuzz-secret"
    case = WebhookGenerator(random.Random(1)).valid()

    verdicts = {}
    for signing in SIGNINGS:
        signed = type(case)(case.kind, case.body, signing=signing)
        try:
            check_signature(signed.body, signature(signed, secret), secret)
            verdicts[signing] = True
        except SignatureRejected:
            verdicts[signing] = False

    assert verdicts == {signing: signing == "valid" for signing in SIGNINGS}


def test_a_saved_input_replays_byte_for_byte() -> None:
    rng = random.Random(2)
    pool = IdPool(conversations_a=["6f1c7d2e-0000-4000-8000-000000000001"])
    generated: list[Case] = [
        *(WebhookGenerator(rng).next() for _ in range(50)),
        *(GatewayGenerator(rng, pool).next() for _ in range(50)),
        *(GrpcGenerator(rng, pool).next() for _ in range(50)),
        *(FilesGenerator(rng, pool).next() for _ in range(50)),
    ]

    replayed = [from_json(to_json(case)) for case in generated]

    assert replayed == generated
    assert any(isinstance(case, HttpCase) for case in replayed)
    assert any(isinstance(case, GrpcCase) and case.client_streaming for case in replayed)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_generated_webhooks_keep_their_promises(rng: random.Random) -> None:
    generator = WebhookGenerator(rng)

    cases = [generator.next() for _ in range(25)]

    for case in cases:
        assert len(case.body) <= MAX_BODY
        assert not (case.unsigned_wamids and case.signed)
        if case.valid_wamids:
            assert case.signed and set(senders(case.body)) == set(case.valid_wamids)
            assert all(w.startswith("wamid.VALID") for w in case.valid_wamids)
        else:
            assert b"wamid.VALID" not in case.body
