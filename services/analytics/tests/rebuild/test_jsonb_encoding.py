"""The jsonb a rebuild COPYs: what the live writer's `json.dumps` would store."""

from __future__ import annotations

import json

import pytest

from threadline.analytics.adapters.outbound.read_models.rebuild.store import jsonb_binary


@pytest.mark.parametrize(
    "value",
    [
        [],
        {},
        [{"status": "sent", "at": "2026-11-21T10:00:00+00:00"}],
        {"raw": {"text": {"body": "olá 👋"}}, "n": 1.5, "ok": True, "none": None},
        {"huge": 2**70},  # beyond orjson: the standard library encodes it
        {1: "a key that is not a string"},
    ],
)
def test_jsonb_is_version_one_then_json_equal_to_the_standard_librarys(value: object) -> None:
    encoded = jsonb_binary(value)

    assert encoded[:1] == b"\x01"
    assert json.loads(encoded[1:]) == json.loads(json.dumps(value))
