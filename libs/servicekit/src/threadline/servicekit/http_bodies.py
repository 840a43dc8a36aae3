"""Request bodies of the platform's HTTP servers (ingest's webhook, the gateway): taken as sent.

The servers run with `auto_decompress=False` and refuse an encoded body: nothing is inflated
(no zip bombs, no decoder failing half-way through a read and leaving the client hanging; found
by `make fuzz`). WhatsApp sends webhooks uncompressed.
"""

from __future__ import annotations

from collections.abc import Mapping

ENCODED_BODY_REFUSAL = "Content-Encoding is not accepted: send the body plain"


def plain_body(headers: Mapping[str, str]) -> bool:
    """Whether the request's body comes without a Content-Encoding."""
    return headers.get("Content-Encoding", "identity").strip().lower() in ("", "identity")
