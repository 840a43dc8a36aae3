"""The project's own WhatsApp test data: webhook samples and send-message requests.

Written for Threadline in the shapes Meta documents for the Cloud API (webhooks of the
`messages` field and others; the body of `POST /{version}/{phone-number-id}/messages`), with
made-up numbers and ids. Nothing here is read from outside the repository, so every test that
uses it runs on a fresh clone.

`data/webhooks/<file>.json` each hold named samples, each a whole webhook body:

- `messages`: one customer message of every kind (text, media, stickers, reactions, locations,
  contacts, an order, unsupported ones, a reply, forwards, an ad referral, a BSUID-only sender),
- `replies`: button, list, quick-reply, flow and call-permission replies,
- `changes`: a customer's edits and a revoke,
- `system`: a changed number, a changed identity,
- `statuses`: sent / delivered / read / played / failed, with per-message pricing and errors,
  to a BSUID and in a group,
- `errors`: a change holding only errors,
- `other_fields`: webhooks of fields other than `messages` (account, templates, calls, ...).

`data/send_requests.json` holds one send-message request of every kind the Cloud API takes.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["WEBHOOKS", "send_requests", "webhook_sample", "webhook_samples"]

Json = dict[str, Any]

DATA = Path(__file__).resolve().parent / "data"
WEBHOOKS = DATA / "webhooks"
SEND_REQUESTS = DATA / "send_requests.json"


@cache
def _load(path: Path) -> Json:
    loaded: Json = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def webhook_sample(file: str, name: str) -> Json:
    """A fresh copy of one webhook body: `webhook_sample("messages", "text")`."""
    body: Json = copy.deepcopy(_load(WEBHOOKS / f"{file}.json")[name])
    return body


def webhook_samples() -> list[tuple[str, Json]]:
    """Every sample as (`file.name`, a fresh copy of its body), in a stable order."""
    return [
        (f"{path.stem}.{name}", copy.deepcopy(body))
        for path in sorted(WEBHOOKS.glob("*.json"))
        for name, body in _load(path).items()
    ]


def send_requests() -> dict[str, Json]:
    """Every send-message request by name, fresh copies."""
    return copy.deepcopy(_load(SEND_REQUESTS))
