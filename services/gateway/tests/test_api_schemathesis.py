"""Property-based requests against the running gateway over a real platform (schemathesis,
from the gateway's own OpenAPI document): no described operation answers 5xx, and every answer
is one the document lists, of its media type and its schema.

Bounded: a few generated requests per operation, every operation of the document but those
`SKIPPED` says why (the document test checks that every route is described).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)


def _sibling(name: str) -> ModuleType:
    """A test module of this folder, loaded by path (test folders are not packages)."""
    spec = importlib.util.spec_from_file_location(
        f"gateway_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # for dataclasses
    spec.loader.exec_module(module)
    return module


_HTTP_API = _sibling("test_http_api")
platform = _HTTP_API.platform
customer = _HTTP_API.customer
Platform = Any
Json = dict[str, Any]

EXAMPLES_PER_OPERATION = 6
# Operations left out, by tag or by "METHOD path", and why. The tokens' routes need role admin:
# the requests carry ADMIN's token, so they are exercised.
SKIPPED = {
    # The knowledge bases' service (the AI responder's) is not part of this platform, so those
    # routes rightly answer 503 here (test_knowledge_http.py runs them against it).
    "knowledge": "no AI responder here",
    # A stream of server-sent events never ends, so a request to it is never answered in full
    # (tests/test_live_events.py follows it); this platform's gateway has no NATS for it either.
    "GET /api/v1/events": "the stream never ends",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def skipped(label: str, tags: list[str]) -> bool:
    return label in SKIPPED or any(tag in SKIPPED for tag in tags)


def exercise(document: Json, base_url: str, token: str) -> tuple[list[str], dict[str, int]]:
    """Generated requests to each described operation: what failed, one line each, and how
    many requests each operation was sent."""
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the document does not load: {result.err()}")
            continue
        operation = result.ok()
        if skipped(operation.label, operation.tags or []):
            continue
        try:
            _requests_to(operation, base_url, token, failures, sent)()
        except Exception as failure:
            failures.append(f"{operation.label}: {str(failure)[:600]}")
    return failures, sent


def _requests_to(
    operation: Any, base_url: str, token: str, failures: list[str], sent: dict[str, int]
) -> Callable[[], None]:
    label = operation.label

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def one(case: Any) -> None:
        response = case.call(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        sent[label] = sent.get(label, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as failure:
            failures.append(f"{label}: {str(failure)[:600]}")

    return one


async def test_no_generated_request_ends_in_a_server_error_or_off_the_document(
    platform: Platform,
) -> None:
    await platform.customer_writes("hello", wa_id=customer())
    async with platform.http.get("/api/openapi.json") as response:
        document: Json = await response.json()
    base_url = f"http://127.0.0.1:{platform.gateway.port}"

    # The client is synchronous; the platform serves on this loop meanwhile.
    failures, sent = await asyncio.to_thread(exercise, document, base_url, _HTTP_API.ADMIN)

    assert failures == [], "\n".join(failures)
    described = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if not skipped(f"{method.upper()} {path}", operation["tags"])
    }
    assert set(sent) == described and min(sent.values()) >= 1, sent
