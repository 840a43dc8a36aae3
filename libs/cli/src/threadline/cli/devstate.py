"""Where a running `threadline up` is, and the development secrets it generated.

Kept in `.threadline/dev.json` (git-ignored, readable only by its owner) so that `threadline demo`
and other commands in another shell can find the platform. Nothing here is ever committed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from threadline.servicekit.auth import hash_token

STATE_DIR = Path(".threadline")
STATE_FILE = STATE_DIR / "dev.json"


@dataclass(frozen=True, slots=True)
class Secrets:
    app_secret: str
    verify_token: str
    access_token: str
    api_token: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(*(secrets.token_urlsafe(24) for _ in range(4)))

    def api_tokens_setting(self) -> str:
        """`THREADLINE_API_TOKENS`: the dev token's hash with every role on every number."""
        return f"{hash_token(self.api_token)}:read,write,admin:*"


@dataclass(frozen=True, slots=True)
class Ports:
    ingest: int
    session_grpc: int
    analytics_grpc: int
    sandbox: int
    ops: dict[str, int]
    gateway: int = 8081  # the gateway's REST API (absent from older dev.json files)
    knowledge_grpc: int = 50053  # the AI responder's KnowledgeBases (absent from older files)


@dataclass(frozen=True, slots=True)
class DevState:
    secrets: Secrets
    ports: Ports
    nats_url: str
    database_url: str
    phone_number_id: str = "109000000000001"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.ingest}/webhooks/whatsapp"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sandbox}"

    def save(self, path: Path = STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        os.chmod(path, 0o600)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path = STATE_FILE) -> DevState:
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: start the platform first with `make run` (threadline up)"
            )
        raw = json.loads(path.read_text())
        return cls(
            secrets=Secrets(**raw["secrets"]),
            ports=Ports(**raw["ports"]),
            nats_url=raw["nats_url"],
            database_url=raw["database_url"],
            phone_number_id=raw["phone_number_id"],
        )


def saved_secrets(path: Path = STATE_FILE) -> Secrets:
    """The secrets of an earlier run, so webhooks signed before a restart still verify."""
    try:
        return DevState.load(path).secrets
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return Secrets.generate()
