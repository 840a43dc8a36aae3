"""The knowledge-base passages an AI reply used (issue 12 item 1), as the AI responder's draft
names them: kept on the reply's `OutboundMessageQueued` as plain mappings (`stored`), so an
event stored before citations existed reads back with none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Citation", "StoredCitation"]

StoredCitation = dict[str, str | float]


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage a reply used: its id, document, knowledge base, the search's score and the
    start of its text (the AI responder bounds it to 300 code points)."""

    passage_id: str
    document: str
    knowledge_base: str
    score: float
    snippet: str

    def stored(self) -> StoredCitation:
        return {
            "passage_id": self.passage_id,
            "document": self.document,
            "knowledge_base": self.knowledge_base,
            "score": self.score,
            "snippet": self.snippet,
        }

    @classmethod
    def from_stored(cls, fields: Mapping[str, Any]) -> Citation:
        return cls(
            passage_id=str(fields.get("passage_id", "")),
            document=str(fields.get("document", "")),
            knowledge_base=str(fields.get("knowledge_base", "")),
            score=float(fields.get("score", 0.0)),
            snippet=str(fields.get("snippet", "")),
        )
