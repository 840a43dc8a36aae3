"""`anthropic:` models through the official `anthropic` SDK (the Messages API).

A turn showing images is a list of content blocks: each image an `image` block with a base64
source, then the text beside it (Anthropic's advice: images before the text about them)."""

from __future__ import annotations

import time
from typing import Any

import anthropic
from anthropic import AsyncAnthropic

from threadline.ai_responder.adapters.outbound.models.failures import status_failure
from threadline.ai_responder.application.ports import (
    CUSTOMER,
    ModelAnswer,
    ModelRequest,
    ModelUnavailable,
    ToolCall,
    ToolRound,
    Turn,
    Usage,
)


class AnthropicModel:
    """Messages, non-streaming; the SDK does the timeouts and bounded retries."""

    def __init__(self, client: AsyncAnthropic, model: str) -> None:
        self._client = client
        self._model = model
        self.name = f"anthropic:{model}"

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        started = time.perf_counter()
        messages: list[Any] = [
            {"role": "user" if turn.role == CUSTOMER else "assistant", "content": _content(turn)}
            for turn in request.turns
        ]
        for tool_round in request.tool_rounds:
            messages += _round_messages(tool_round)
        tools: list[Any] = [
            {
                "name": tool.name,
                "description": tool.description,
                "input_schema": dict(tool.parameters),
            }
            for tool in request.tools
        ]
        try:
            message = await self._client.messages.create(
                model=self._model,
                system=request.system_prompt,
                messages=messages,
                max_tokens=request.max_output_tokens,
                tools=tools or anthropic.omit,
                tool_choice={"type": "any"} if tools and request.require_tool else anthropic.omit,
            )
        except anthropic.APIStatusError as error:
            raise status_failure(self.name, error.status_code, _message(error)) from error
        except anthropic.APITimeoutError as error:
            raise ModelUnavailable(self.name, "timed out") from error
        except anthropic.APIConnectionError as error:
            raise ModelUnavailable(self.name, f"cannot connect: {error}") from error
        except anthropic.APIError as error:
            raise ModelUnavailable(self.name, f"unreadable answer: {error}") from error
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                if not isinstance(block.input, dict):
                    raise ModelUnavailable(
                        self.name, f"tool {block.name!r} called with arguments not an object"
                    )
                calls.append(ToolCall(name=block.name, arguments=block.input, call_id=block.id))
        usage = message.usage
        cached = usage.cache_read_input_tokens or 0
        # Anthropic's `input_tokens` excludes cache reads and writes; the port's includes them.
        written = usage.cache_creation_input_tokens or 0
        return ModelAnswer(
            text="".join(texts),
            tool_calls=tuple(calls),
            usage=Usage(
                input_tokens=usage.input_tokens + cached + written,
                output_tokens=usage.output_tokens,
                cached_tokens=cached,
            ),
            model=self.name,
            latency_seconds=time.perf_counter() - started,
        )

    async def close(self) -> None:
        await self._client.close()


def _content(turn: Turn) -> str | list[dict[str, Any]]:
    """The turn's text, or its images and then its text as content blocks."""
    if not turn.images:
        return turn.text
    blocks: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": image.content_type, "data": image.base64},
        }
        for image in turn.images
    ]
    return [*blocks, {"type": "text", "text": turn.text}]


def _round_messages(tool_round: ToolRound) -> list[dict[str, Any]]:
    """The assistant's `tool_use` blocks, then the user's `tool_result` blocks answering them."""
    uses = [
        {"type": "tool_use", "id": call.call_id, "name": call.name, "input": dict(call.arguments)}
        for call in tool_round.calls
    ]
    results = [
        {"type": "tool_result", "tool_use_id": call.call_id, "content": result}
        for call, result in zip(tool_round.calls, tool_round.results, strict=True)
    ]
    return [{"role": "assistant", "content": uses}, {"role": "user", "content": results}]


def _message(error: anthropic.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return error.message
