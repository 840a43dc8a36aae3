"""A local simulator of the WhatsApp Cloud API, used by `make run` and by tests instead of Meta."""

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.customer import (
    build_inbound_message,
    build_inbound_text,
    media_content,
    send_inbound,
)
from threadline.sandbox.media import MediaLibrary, StoredMedia
from threadline.sandbox.receiver import ReceivedWebhook, WebhookReceiver
from threadline.sandbox.sample_media import SAMPLES, SampleFile
from threadline.sandbox.server import Sandbox
from threadline.sandbox.signing import sign, verify

__all__ = [
    "SAMPLES",
    "MediaLibrary",
    "ReceivedWebhook",
    "SampleFile",
    "Sandbox",
    "SandboxConfig",
    "StoredMedia",
    "WebhookReceiver",
    "build_inbound_message",
    "build_inbound_text",
    "media_content",
    "send_inbound",
    "sign",
    "verify",
]
