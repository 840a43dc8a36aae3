"""`openai:` models through the official `openai` SDK (OpenAI and every compatible server).

A turn showing images is a list of content parts: each image an `image_url` part holding a
base64 `data:` URL (no URL of ours is ever fetched by the provider), then the text beside it."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

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


class OpenAIModel:
    """Chat Completions, non-streaming; the SDK does the timeouts and bounded retries.

    The body is built here as the plain JSON Chat Completions takes, so it goes through the
    client's `post` untransformed (see `generate`)."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model
        self.name = f"openai:{model}"

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        started = time.perf_counter()
        messages: list[Any] = [{"role": "system", "content": request.system_prompt}]
        messages += [
            {"role": "user" if turn.role == CUSTOMER else "assistant", "content": _content(turn)}
            for turn in request.turns
        ]
        for tool_round in request.tool_rounds:
            messages += _round_messages(tool_round)
        tools: list[Any] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": dict(tool.parameters),
                },
            }
            for tool in request.tools
        ]
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "max_completion_tokens": request.max_output_tokens,
        }
        if tools:
            body["tools"] = tools
            if request.require_tool:
                body["tool_choice"] = "required"
        try:
            # The SDK's own `post`, as `chat.completions.create` ends in: the same client, auth,
            # timeouts, retries and typed answer, without `create`'s walk of every message and
            # tool schema against the request's TypedDicts (`async_maybe_transform`), which
            # renames nothing in a Chat Completions body and cost 7 to 10 ms of CPU a request here.
            completion = await self._client.post(
                "/chat/completions", body=body, cast_to=ChatCompletion
            )
        except openai.APIStatusError as error:
            raise status_failure(self.name, error.status_code, _message(error)) from error
        except openai.APITimeoutError as error:
            raise ModelUnavailable(self.name, "timed out") from error
        except openai.APIConnectionError as error:
            raise ModelUnavailable(self.name, f"cannot connect: {error}") from error
        except openai.APIError as error:
            raise ModelUnavailable(self.name, f"unreadable answer: {error}") from error
        if not completion.choices:
            raise ModelUnavailable(self.name, "the answer has no choices")
        message = completion.choices[0].message
        calls = tuple(self._tool_call(call) for call in message.tool_calls or ())
        usage = completion.usage
        cached = 0
        if usage is not None and usage.prompt_tokens_details is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        return ModelAnswer(
            text=message.content or "",
            tool_calls=calls,
            usage=Usage(
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
                cached_tokens=cached,
            ),
            model=self.name,
            latency_seconds=time.perf_counter() - started,
        )

    def _tool_call(self, call: Any) -> ToolCall:
        function = getattr(call, "function", None)
        if function is None:
            raise ModelUnavailable(self.name, f"unsupported tool call type {call.type!r}")
        try:
            arguments = json.loads(function.arguments or "{}")
        except json.JSONDecodeError as error:
            raise ModelUnavailable(
                self.name, f"tool {function.name!r} called with arguments that are not JSON"
            ) from error
        if not isinstance(arguments, dict):
            raise ModelUnavailable(
                self.name, f"tool {function.name!r} called with arguments that are not an object"
            )
        return ToolCall(name=function.name, arguments=arguments, call_id=call.id or "")

    async def close(self) -> None:
        await self._client.close()


def _content(turn: Turn) -> str | list[dict[str, Any]]:
    """The turn's text, or its images and then its text as content parts."""
    if not turn.images:
        return turn.text
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image.data_url}} for image in turn.images
    ]
    return [*parts, {"type": "text", "text": turn.text}]


def _round_messages(tool_round: ToolRound) -> list[dict[str, Any]]:
    """The assistant's message calling the tools, then one `tool` message per result."""
    calls = [
        {
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
        }
        for call in tool_round.calls
    ]
    results = [
        {"role": "tool", "tool_call_id": call.call_id, "content": result}
        for call, result in zip(tool_round.calls, tool_round.results, strict=True)
    ]
    return [{"role": "assistant", "content": None, "tool_calls": calls}, *results]


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return error.message
