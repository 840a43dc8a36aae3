"""Every request example Meta's OpenAPI gives for the send-message path is accepted."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import GraphClient

OPENAPI = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "reference"
    / "whatsapp-cloud-api"
    / "business-messaging-api_v23.0.yaml"
)
MESSAGES_PATH = "/{Version}/{Phone-Number-ID}/messages"


@cache
def request_examples() -> dict[str, Any]:
    """The path's request examples by name, read from the OpenAPI file."""
    yaml = pytest.importorskip("yaml", reason="PyYAML is libs/sandbox's dev dependency")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec: Any = yaml.load(OPENAPI.read_text(encoding="utf-8"), Loader=loader)
    content = spec["paths"][MESSAGES_PATH]["post"]["requestBody"]["content"]
    examples: dict[str, Any] = content["application/json"]["examples"]
    return {name: example["value"] for name, example in examples.items()}


def example_names() -> list[Any]:
    if not OPENAPI.exists():
        reason = "the reference OpenAPI file is not beside the project"
        return [pytest.param("", marks=pytest.mark.skip(reason=reason))]
    try:
        return sorted(request_examples())
    except pytest.skip.Exception as skipped:
        return [pytest.param("", marks=pytest.mark.skip(reason=str(skipped)))]


@pytest.mark.parametrize("name", example_names())
async def test_openapi_request_example_is_accepted(
    graph: GraphClient, phone_number_id: str, name: str
) -> None:
    status, reply = await graph.send(phone_number_id, request_examples()[name])

    assert status == 200, reply
    assert reply.get("success") is True or reply["messages"][0]["id"].startswith("wamid.")
