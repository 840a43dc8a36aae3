"""The test chat (issue 13 item 4): an operator writes to a business number's assistant as a
customer would, from the console, and nothing of it reaches WhatsApp.

A tester is a synthetic customer of the number: known by the user id `test:<tester>` (never a
WhatsApp id: WhatsApp's BSUIDs are a country code, a dot and digits), so the session opens the
tester's conversations on channel `test`, and outbound, which reads only the recipient of a
queued message, knows not to send it. The tester's messages are named by wamids of their own
(`wamid.test.<id>`, `chat_wamid`), which outbound never hands to the Graph API either (read
receipts, typing indicators); its own messages to a tester get such wamids too, and their
statuses (sent, delivered, read) are reported by outbound itself, through the path WhatsApp's
take. The window of a test conversation never closes, and analytics keeps the channel out of
its metrics and exports unless asked for it.
"""

from __future__ import annotations

TEST_CHANNEL = "test"
WHATSAPP_CHANNEL = "whatsapp"
TESTER_PREFIX = "test:"
CHAT_WAMID_PREFIX = "wamid.test."
MAX_TESTER = 64  # characters of a tester's name
TEST_STATUSES = ("sent", "delivered", "read")  # what outbound reports of a message to a tester


def tester_user_id(tester: str) -> str:
    """The synthetic customer id of `tester` (a name, stripped; not empty)."""
    return TESTER_PREFIX + tester.strip()


def is_tester(user_id: str) -> bool:
    """Whether a customer id is a tester's: their messages go nowhere."""
    return user_id.startswith(TESTER_PREFIX)


def channel_of(user_id: str) -> str:
    """The channel a customer known by `user_id` writes on."""
    return TEST_CHANNEL if is_tester(user_id) else WHATSAPP_CHANNEL


def chat_wamid(message_id: str) -> str:
    """The wamid a test chat message is known by (a tester's, or one sent to a tester)."""
    return CHAT_WAMID_PREFIX + message_id


def is_chat_wamid(wamid: str) -> bool:
    return wamid.startswith(CHAT_WAMID_PREFIX)
