"""A local simulator of the WhatsApp Cloud API, used by `make run` and by tests instead of Meta."""

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.customer import build_inbound_text, send_inbound
from threadline.sandbox.receiver import ReceivedWebhook, WebhookReceiver
from threadline.sandbox.server import Sandbox
from threadline.sandbox.signing import sign, verify

__all__ = [
    "ReceivedWebhook",
    "Sandbox",
    "SandboxConfig",
    "WebhookReceiver",
    "build_inbound_text",
    "send_inbound",
    "sign",
    "verify",
]
