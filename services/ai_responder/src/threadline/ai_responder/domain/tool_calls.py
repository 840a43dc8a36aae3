"""A call of one of the business's HTTP tools and what it gave (issue 12 item 2).

Whatever happens (the answer, an HTTP error, a timeout, arguments that break the tool's schema,
a connection that fails, a secret the responder lacks), the call ends in a `ToolResult` the
model reads and can explain to the customer: never an exception out of the burst, never a hang.

A mutating call (a booking) is keyed by (conversation, tool, canonical arguments):
`mutation_key`. A result recorded under that key is what a second identical call gets, so a
regenerated reply (a generation discarded because the customer wrote again, a redelivery) does
not book twice."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

Status = Literal[
    "ok",
    "http_error",
    "timeout",
    "invalid_arguments",
    "connection_error",
    "unavailable",
]
# What may have reached the business's system: recorded, so never sent again for a mutation.
REACHED: Final[frozenset[str]] = frozenset({"ok", "http_error", "timeout"})


@dataclass(frozen=True, slots=True)
class ToolResult:
    status: Status
    http_status: int = 0
    body: str = ""  # the answer's text, bounded
    detail: str = ""  # what went wrong, in words the model can pass on
    truncated: bool = False

    def for_model(self) -> str:
        """The result as the model reads it (JSON); the body parsed when it is JSON."""
        told: dict[str, object] = {"status": self.status}
        if self.http_status:
            told["http_status"] = self.http_status
        if self.body:
            try:
                told["response"] = json.loads(self.body)
            except json.JSONDecodeError:
                told["response"] = self.body
        if self.truncated:
            told["truncated"] = True
        if self.detail:
            told["error"] = self.detail
        return json.dumps(told, ensure_ascii=False)

    def to_json(self) -> str:
        return json.dumps(
            {
                "status": self.status,
                "http_status": self.http_status,
                "body": self.body,
                "detail": self.detail,
                "truncated": self.truncated,
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> ToolResult:
        given = json.loads(raw)
        return cls(
            status=given["status"],
            http_status=int(given.get("http_status", 0)),
            body=str(given.get("body", "")),
            detail=str(given.get("detail", "")),
            truncated=bool(given.get("truncated", False)),
        )


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """One call as the conversation records it (ai.proto `ToolCalled`)."""

    call_id: str
    conversation_id: str
    generation_id: str
    tool: str
    arguments_json: str  # canonical
    result: ToolResult
    latency_seconds: float
    mutating: bool
    replayed: bool  # the result recorded by an earlier identical call, not called again
    at: datetime


def mutation_key(conversation_id: str, tool: str, arguments_json: str) -> str:
    """The key of a mutating call (KV-safe): the same conversation, tool and canonical
    arguments are the same key."""
    digest = hashlib.sha256(f"{conversation_id}\n{tool}\n{arguments_json}".encode()).hexdigest()
    return digest[:48]
