"""The project's own test data covers every kind of webhook and request the tests rely on."""

from __future__ import annotations

from collections import Counter
from typing import Any

from threadline.testing.samples import send_requests, webhook_sample, webhook_samples

Json = dict[str, Any]


def changes(body: Json) -> list[Json]:
    return [change for entry in body["entry"] for change in entry["changes"]]


def values(field: str) -> list[Json]:
    return [
        change["value"]
        for _, body in webhook_samples()
        for change in changes(body)
        if change["field"] == field
    ]


def test_every_sample_is_a_whatsapp_business_account_webhook() -> None:
    samples = webhook_samples()

    assert len(samples) > 40
    assert all(body["object"] == "whatsapp_business_account" for _, body in samples)
    assert all(changes(body) for _, body in samples)


def test_every_message_kind_is_covered() -> None:
    kinds = Counter(m["type"] for v in values("messages") for m in v.get("messages", []))

    assert set(kinds) >= {
        "text",
        "image",
        "video",
        "document",
        "audio",
        "sticker",
        "reaction",
        "location",
        "contacts",
        "order",
        "unsupported",
        "interactive",
        "button",
        "edit",
        "revoke",
        "system",
    }


def test_messages_carry_the_shapes_the_rules_depend_on() -> None:
    messages = [m for v in values("messages") for m in v.get("messages", [])]

    assert any("referral" in m for m in messages)
    assert any(m.get("context", {}).get("forwarded") for m in messages)
    assert any("from_user_id" in m and "from" not in m for m in messages)
    assert any(m["type"] == "audio" and m["audio"].get("voice") for m in messages)
    assert {m["interactive"]["type"] for m in messages if "interactive" in m} >= {
        "button_reply",
        "list_reply",
        "nfm_reply",
        "call_permission_reply",
    }


def test_statuses_cover_every_state_with_pricing_and_errors() -> None:
    statuses = [s for v in values("messages") for s in v.get("statuses", [])]

    assert {s["status"] for s in statuses} >= {"sent", "delivered", "read", "played", "failed"}
    assert {s["pricing"]["pricing_model"] for s in statuses if "pricing" in s} == {"PMP"}
    assert all(s.get("errors") for s in statuses if s["status"] == "failed")
    assert any("recipient_user_id" in s and "recipient_id" not in s for s in statuses)
    assert any(s.get("recipient_type") == "group" for s in statuses)


def test_errors_and_other_fields_are_covered() -> None:
    fields = {change["field"] for _, body in webhook_samples() for change in changes(body)}

    assert any(v.get("errors") and not v.get("messages") for v in values("messages"))
    assert fields - {"messages"} >= {
        "account_update",
        "message_template_status_update",
        "calls",
        "user_preferences",
        "smb_message_echoes",
    }


def test_no_two_messages_share_a_wamid() -> None:
    wamids = Counter(m["id"] for v in values("messages") for m in v.get("messages", []))

    assert [wamid for wamid, count in wamids.items() if count > 1] == []


def test_a_sample_is_a_fresh_copy() -> None:
    first = webhook_sample("messages", "text")
    first["entry"].clear()

    assert webhook_sample("messages", "text")["entry"]


def test_send_requests_cover_every_message_type_and_read_receipts() -> None:
    requests = send_requests()
    kinds = {r.get("type") for r in requests.values()}

    assert kinds >= {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    }
    assert any(r.get("status") == "read" for r in requests.values())
    interactive = {r["interactive"]["type"] for r in requests.values() if "interactive" in r}
    assert interactive >= {"button", "list", "cta_url", "product", "product_list", "flow"}
