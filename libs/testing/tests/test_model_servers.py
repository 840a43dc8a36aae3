"""The scripted model servers speak each provider's protocol and record every request."""

from __future__ import annotations

import json
import time

import aiohttp

from threadline.testing.model_servers import (
    AnthropicServer,
    ErrorAnswer,
    JsonAnswer,
    OpenAIServer,
    SlowAnswer,
    TextAnswer,
    ToolCallAnswer,
    TranscriptAnswer,
)


async def post(url: str, body: dict[str, object]) -> tuple[int, dict[str, str], dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=body, headers={"Authorization": "Bearer k"}) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def test_openai_answers_text_then_a_tool_call_in_order_and_records_requests() -> None:
    async with OpenAIServer() as server:
        server.script(TextAnswer("Hi!", cached_tokens=4), ToolCallAnswer("hand_off", {"r": "x"}))
        url = f"{server.base_url}/chat/completions"

        _, _, first = await post(url, {"model": "m", "messages": []})
        _, _, second = await post(url, {"model": "m", "messages": [], "tools": []})

    assert first["choices"][0]["message"]["content"] == "Hi!"  # type: ignore[index]
    assert first["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}  # type: ignore[index]
    call = second["choices"][0]["message"]["tool_calls"][0]  # type: ignore[index]
    assert call["function"] == {"name": "hand_off", "arguments": '{"r": "x"}'}
    assert second["choices"][0]["finish_reason"] == "tool_calls"  # type: ignore[index]
    assert [r.body for r in server.requests][1]["tools"] == []
    assert server.requests[0].headers["authorization"] == "Bearer k"
    assert server.requests[0].path == "/v1/chat/completions"


async def test_openai_json_answer_is_the_document_as_text() -> None:
    async with OpenAIServer() as server:
        server.script(JsonAnswer({"kind": "text", "body": "Hello"}))
        _, _, answer = await post(f"{server.base_url}/chat/completions", {"model": "m"})

    assert answer["choices"][0]["message"]["content"] == (  # type: ignore[index]
        '{"kind": "text", "body": "Hello"}'
    )


async def test_errors_carry_each_providers_error_body_and_a_short_retry_after() -> None:
    async with OpenAIServer() as openai, AnthropicServer() as anthropic:
        openai.script(ErrorAnswer(429, "slow down"))
        anthropic.script(ErrorAnswer(529, "overloaded"))

        status, headers, body = await post(f"{openai.base_url}/chat/completions", {})
        a_status, _, a_body = await post(f"{anthropic.base_url}/v1/messages", {})

    assert (status, headers["retry-after-ms"]) == (429, "10")
    assert body["error"]["message"] == "slow down"  # type: ignore[index]
    assert body["error"]["type"] == "rate_limit_exceeded"  # type: ignore[index]
    assert a_status == 529
    assert a_body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "overloaded"},
    }


async def test_anthropic_answers_tool_use_blocks_with_cache_reads_apart() -> None:
    async with AnthropicServer() as server:
        server.script(
            ToolCallAnswer(
                "hand_off",
                {"reason": "asks"},
                text="One moment.",
                input_tokens=100,
                cached_tokens=60,
            )
        )
        _, _, answer = await post(f"{server.base_url}/v1/messages", {"model": "c"})

    assert answer["content"] == [
        {"type": "text", "text": "One moment."},
        {"type": "tool_use", "id": "toolu_1", "name": "hand_off", "input": {"reason": "asks"}},
    ]
    assert answer["stop_reason"] == "tool_use"
    assert answer["usage"]["input_tokens"] == 40  # type: ignore[index]
    assert answer["usage"]["cache_read_input_tokens"] == 60  # type: ignore[index]


async def test_a_request_without_a_scripted_answer_gets_a_400_naming_it() -> None:
    async with AnthropicServer() as server:
        status, _, body = await post(f"{server.base_url}/v1/messages", {})

    assert status == 400
    assert "scripted no answer" in body["error"]["message"]  # type: ignore[index]
    assert server.pending == 0


async def test_a_slow_answer_waits_and_closing_the_server_does_not_wait_for_it() -> None:
    async with OpenAIServer() as server:
        server.script(SlowAnswer(0.2, TextAnswer("late")), SlowAnswer(30, TextAnswer("never")))
        started = time.perf_counter()
        _, _, answer = await post(f"{server.base_url}/chat/completions", {})
        assert time.perf_counter() - started >= 0.2
        assert answer["choices"][0]["message"]["content"] == "late"  # type: ignore[index]
        try:
            async with aiohttp.ClientSession() as http:
                await http.post(
                    f"{server.base_url}/chat/completions",
                    json={},
                    timeout=aiohttp.ClientTimeout(total=0.1),
                )
        except TimeoutError:
            pass
        closing = time.perf_counter()
    assert time.perf_counter() - closing < 5


async def transcribe(
    server: OpenAIServer, fields: dict[str, str], audio: bytes = b"OggS voice"
) -> tuple[int, str, str]:
    form = aiohttp.FormData()
    form.add_field("file", audio, filename="note.ogg", content_type="audio/ogg; codecs=opus")
    for name, value in fields.items():
        form.add_field(name, value)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/audio/transcriptions", data=form) as response,
    ):
        return response.status, response.content_type, await response.text()


async def test_openai_transcribes_multipart_audio_and_records_the_file_and_fields() -> None:
    async with OpenAIServer() as server:
        server.script(TranscriptAnswer("Hi there", language="en", duration_seconds=1.5))
        status, _, text = await transcribe(
            server, {"model": "whisper-1", "language": "en", "response_format": "json"}
        )

    assert status == 200
    assert json.loads(text) == {
        "text": "Hi there",
        "languages": [{"code": "en"}],
        "usage": {"type": "duration", "seconds": 1.5},
    }
    (request,) = server.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.body == {"model": "whisper-1", "language": "en", "response_format": "json"}
    assert request.file is not None
    assert (request.file.name, request.file.content_type) == ("note.ogg", "audio/ogg; codecs=opus")
    assert request.file.data == b"OggS voice" and request.file.size == 10


async def test_a_transcript_says_only_what_it_was_given_in_each_response_format() -> None:
    async with OpenAIServer() as server:
        server.script(
            TranscriptAnswer("Hi"), TranscriptAnswer("Hi", "en", 2.0), TranscriptAnswer("Hi")
        )
        _, _, plain_json = await transcribe(server, {"model": "m"})
        _, _, verbose = await transcribe(server, {"model": "m", "response_format": "verbose_json"})
        _, kind, text = await transcribe(server, {"model": "m", "response_format": "text"})

    assert json.loads(plain_json) == {"text": "Hi"}
    assert json.loads(verbose)["language"] == "en"
    assert json.loads(verbose)["duration"] == 2.0
    assert (kind, text) == ("text/plain", "Hi")


async def test_a_transcript_scripted_for_a_chat_or_a_chat_answer_for_audio_is_a_400() -> None:
    async with OpenAIServer() as server:
        server.script(TranscriptAnswer("Hi"), TextAnswer("Hello"))
        chat_status, _, chat = await post(f"{server.base_url}/chat/completions", {})
        audio_status, _, audio = await transcribe(server, {"model": "m"})

    assert chat_status == 400
    assert "transcript for a chat" in chat["error"]["message"]  # type: ignore[index]
    assert audio_status == 400
    assert "chat answer for audio" in json.loads(audio)["error"]["message"]


async def test_transcription_errors_and_slowness_are_scripted_like_chat_ones() -> None:
    async with OpenAIServer() as server:
        server.script(ErrorAnswer(429, "slow down"), SlowAnswer(0.2, TranscriptAnswer("late")))
        status, _, error = await transcribe(server, {"model": "m"})
        started = time.perf_counter()
        _, _, late = await transcribe(server, {"model": "m"})

    assert status == 429
    assert json.loads(error)["error"]["message"] == "slow down"
    assert time.perf_counter() - started >= 0.2
    assert json.loads(late) == {"text": "late"}
