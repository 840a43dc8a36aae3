"""Local language-model servers for tests: the OpenAI and Anthropic protocols, scripted.

Real aiohttp servers on a free port, so the official SDKs are exercised end to end (retries,
timeouts, error classes) without any network. Each test scripts a queue of answers and reads
back every request the server received:

    async with OpenAIServer() as server:
        server.script(TextAnswer("Hello!"), ErrorAnswer(429), ToolCallAnswer("hand_off", {...}))
        ...  # point the SDK at server.base_url
        assert server.requests[0].body["model"] == "gpt-4.1-mini"

The OpenAI server also transcribes: `POST /v1/audio/transcriptions` (multipart: file, model,
language, response_format) gets the next scripted `TranscriptAnswer`, and its request records
the form fields as `body` and the uploaded file as `file`:

    server.script(TranscriptAnswer("Hello", language="en"))
    ...  # client.audio.transcriptions.create(file=..., model="whisper-1")
    assert server.requests[0].file.size == len(audio)

It also embeds: `POST /v1/embeddings` gets the next scripted `EmbeddingAnswer`: the vectors
given, or (none given) a bag-of-words vector of each input, hashed into `dimensions`, so texts
sharing words are near each other:

    server.script(EmbeddingAnswer())
    ...  # client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])

Non-streaming only. A request that finds the queue empty, or a transcript scripted where a chat
answer is due (or the reverse), gets a 400 naming the problem (the SDKs do not retry a 400, so
a missing script fails fast and visibly).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

from aiohttp import web

__all__ = [
    "Answer",
    "AnthropicServer",
    "EmbeddingAnswer",
    "ErrorAnswer",
    "JsonAnswer",
    "ModelServer",
    "OpenAIServer",
    "RecordedRequest",
    "SlowAnswer",
    "TextAnswer",
    "ToolCallAnswer",
    "TranscriptAnswer",
    "UploadedFile",
]


@dataclass(frozen=True)
class TextAnswer:
    """The model answers with text."""

    text: str
    input_tokens: int = 12
    output_tokens: int = 7
    cached_tokens: int = 0


@dataclass(frozen=True)
class JsonAnswer:
    """The model answers with a JSON document (structured output), as text."""

    value: Any
    input_tokens: int = 12
    output_tokens: int = 7
    cached_tokens: int = 0


@dataclass(frozen=True)
class ToolCallAnswer:
    """The model calls a tool with these arguments (and may say something beside it)."""

    name: str
    arguments: dict[str, Any]
    text: str = ""
    input_tokens: int = 12
    output_tokens: int = 7
    cached_tokens: int = 0


@dataclass(frozen=True)
class TranscriptAnswer:
    """The transcription model heard `text`; `language` and `duration_seconds` are said only
    when given (as `languages` and a duration `usage` in json, top level in verbose_json)."""

    text: str
    language: str = ""
    duration_seconds: float | None = None


@dataclass(frozen=True)
class EmbeddingAnswer:
    """The embedding model's vectors, one per input in order; None: a bag-of-words vector of
    each input (words hashed into `dimensions`, stable across runs)."""

    vectors: tuple[tuple[float, ...], ...] | None = None
    dimensions: int = 64
    input_tokens: int = 5


@dataclass(frozen=True)
class ErrorAnswer:
    """An HTTP error with the provider's own error body (429, 500, 529, 401, 400...)."""

    status: int
    message: str = "scripted error"
    # Sent as `retry-after-ms` so the SDKs' bounded retries are quick in tests; None: no header.
    retry_after_seconds: float | None = 0.01


@dataclass(frozen=True)
class SlowAnswer:
    """`answer`, after `seconds` (the server stops waiting when it closes)."""

    seconds: float
    answer: (
        TextAnswer | JsonAnswer | ToolCallAnswer | TranscriptAnswer | EmbeddingAnswer | ErrorAnswer
    )


Answer = (
    TextAnswer
    | JsonAnswer
    | ToolCallAnswer
    | TranscriptAnswer
    | EmbeddingAnswer
    | ErrorAnswer
    | SlowAnswer
)

# Whisper's own limit is 25 MB; aiohttp's default (1 MB) would refuse a long voice note.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class UploadedFile:
    """The file part of a multipart request: its name, content type and bytes."""

    name: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it (header names in lower case); a multipart
    request's text fields are its `body` and its file part is `file`."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    file: UploadedFile | None = None


@dataclass
class ModelServer:
    """The shared machinery: queue, recording, free port, clean shutdown."""

    host: str = "127.0.0.1"
    requests: list[RecordedRequest] = field(default_factory=list)
    _answers: deque[Answer] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    _port: int = 0
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    path = "/"
    # Where transcriptions are asked for; None: this protocol has no transcription endpoint.
    transcription_path: ClassVar[str | None] = None
    # Where embeddings are asked for; None: this protocol has no embeddings endpoint.
    embeddings_path: ClassVar[str | None] = None

    @property
    def url(self) -> str:
        """The server's root, `http://host:port`."""
        if self._runner is None:
            raise RuntimeError("the model server is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What the provider's SDK takes as `base_url`."""
        return self.url

    def script(self, *answers: Answer) -> None:
        """Queue answers, given in the order the requests will get them."""
        self._answers.extend(answers)

    @property
    def pending(self) -> int:
        """Scripted answers not yet given."""
        return len(self._answers)

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_post(self.path, self._handle)
        if self.transcription_path is not None:
            app.router.add_post(self.transcription_path, self._handle)
        if self.embeddings_path is not None:
            app.router.add_post(self.embeddings_path, self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        file: UploadedFile | None = None
        if request.content_type == "multipart/form-data":
            body, file = await _read_multipart(request)
        else:
            try:
                body = await request.json()
            except json.JSONDecodeError:
                body = {"_unreadable": await request.text()}
        self.requests.append(
            RecordedRequest(
                path=request.path,
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
                file=file,
            )
        )
        if not self._answers:
            return self._error(ErrorAnswer(400, "the test scripted no answer for this request"))
        answer = self._answers.popleft()
        if isinstance(answer, SlowAnswer):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), answer.seconds)
            answer = answer.answer
        if isinstance(answer, ErrorAnswer):
            return self._error(answer)
        embedding = request.path == self.embeddings_path
        if isinstance(answer, EmbeddingAnswer) != embedding:
            return self._error(
                ErrorAnswer(400, "the test scripted embeddings for another kind of request")
            )
        if isinstance(answer, EmbeddingAnswer):
            return web.json_response(_embeddings(answer, body))
        transcribing = request.path == self.transcription_path
        if isinstance(answer, TranscriptAnswer):
            if not transcribing:
                return self._error(ErrorAnswer(400, "the test scripted a transcript for a chat"))
            return _transcript(answer, body)
        if transcribing:
            return self._error(ErrorAnswer(400, "the test scripted a chat answer for audio"))
        return web.json_response(self._success(answer, body))

    def _error(self, answer: ErrorAnswer) -> web.Response:
        headers = {}
        if answer.retry_after_seconds is not None:
            headers["retry-after-ms"] = str(int(answer.retry_after_seconds * 1000))
        return web.json_response(self._error_body(answer), status=answer.status, headers=headers)

    def _next_id(self) -> int:
        return next(self._ids)

    def _success(
        self, answer: TextAnswer | JsonAnswer | ToolCallAnswer, body: dict[str, Any]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _error_body(self, answer: ErrorAnswer) -> dict[str, Any]:
        raise NotImplementedError


async def _read_multipart(request: web.Request) -> tuple[dict[str, Any], UploadedFile | None]:
    body: dict[str, Any] = {}
    file: UploadedFile | None = None
    for name, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            file = UploadedFile(
                name=value.filename, content_type=value.content_type, data=value.file.read()
            )
        else:
            body[name] = value
    return body, file


def _transcript(answer: TranscriptAnswer, body: dict[str, Any]) -> web.Response:
    """The OpenAI transcription answer in the asked `response_format` (json by default)."""
    response_format = body.get("response_format", "json")
    if response_format == "text":
        return web.Response(text=answer.text, content_type="text/plain")
    document: dict[str, Any] = {"text": answer.text}
    if response_format == "verbose_json":
        document |= {"task": "transcribe", "language": answer.language, "segments": []}
        document["duration"] = answer.duration_seconds or 0.0
        return web.json_response(document)
    if answer.language:
        document["languages"] = [{"code": answer.language}]
    if answer.duration_seconds is not None:
        document["usage"] = {"type": "duration", "seconds": answer.duration_seconds}
    return web.json_response(document)


def _embeddings(answer: EmbeddingAnswer, body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI embeddings answer (float encoding) for the request's `input`."""
    given = body.get("input", [])
    inputs = [given] if isinstance(given, str) else list(given)
    vectors = (
        [list(vector) for vector in answer.vectors]
        if answer.vectors is not None
        else [_bag_of_words(str(text), answer.dimensions) for text in inputs]
    )
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": vector}
            for index, vector in enumerate(vectors)
        ],
        "model": body.get("model", "unknown"),
        "usage": {"prompt_tokens": answer.input_tokens, "total_tokens": answer.input_tokens},
    }


def _bag_of_words(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in text.lower().split():
        word = word.strip(".,;:!?¿¡\"'()")
        if word:
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "big") % dimensions] += 1.0
    return vector


def _text_of(answer: TextAnswer | JsonAnswer | ToolCallAnswer) -> str:
    if isinstance(answer, JsonAnswer):
        return json.dumps(answer.value)
    return answer.text


OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


@dataclass
class OpenAIServer(ModelServer):
    """OpenAI Chat Completions: `POST /v1/chat/completions` (tools, response_format, usage),
    transcriptions: `POST /v1/audio/transcriptions` (multipart), and embeddings:
    `POST /v1/embeddings`."""

    path = "/v1/chat/completions"
    transcription_path = "/v1/audio/transcriptions"
    embeddings_path = "/v1/embeddings"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _success(
        self, answer: TextAnswer | JsonAnswer | ToolCallAnswer, body: dict[str, Any]
    ) -> dict[str, Any]:
        number = self._next_id()
        text = _text_of(answer)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        finish_reason = "stop"
        if isinstance(answer, ToolCallAnswer):
            message["tool_calls"] = [
                {
                    "id": f"call_{number}",
                    "type": "function",
                    "function": {"name": answer.name, "arguments": json.dumps(answer.arguments)},
                }
            ]
            finish_reason = "tool_calls"
        return {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": answer.input_tokens,
                "completion_tokens": answer.output_tokens,
                "total_tokens": answer.input_tokens + answer.output_tokens,
                "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
            },
        }

    def _error_body(self, answer: ErrorAnswer) -> dict[str, Any]:
        kind = OPENAI_ERROR_TYPES.get(answer.status, "server_error")
        return {"error": {"message": answer.message, "type": kind, "param": None, "code": kind}}


ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass
class AnthropicServer(ModelServer):
    """Anthropic Messages: `POST /v1/messages` (tools and tool_use blocks, usage with cache)."""

    path = "/v1/messages"

    def _success(
        self, answer: TextAnswer | JsonAnswer | ToolCallAnswer, body: dict[str, Any]
    ) -> dict[str, Any]:
        number = self._next_id()
        text = _text_of(answer)
        content: list[dict[str, Any]] = []
        if text:
            content.append({"type": "text", "text": text})
        stop_reason = "end_turn"
        if isinstance(answer, ToolCallAnswer):
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{number}",
                    "name": answer.name,
                    "input": answer.arguments,
                }
            )
            stop_reason = "tool_use"
        # Anthropic counts cache reads apart from `input_tokens` (which excludes them).
        return {
            "id": f"msg_{number}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": answer.input_tokens - answer.cached_tokens,
                "output_tokens": answer.output_tokens,
                "cache_read_input_tokens": answer.cached_tokens,
                "cache_creation_input_tokens": 0,
            },
        }

    def _error_body(self, answer: ErrorAnswer) -> dict[str, Any]:
        kind = ANTHROPIC_ERROR_TYPES.get(answer.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": answer.message}}
