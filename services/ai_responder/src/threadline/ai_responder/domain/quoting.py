"""Which customer message a reply quotes (issue 11 item 8), so WhatsApp shows what it answers.

The rule: a reply quotes the customer message it answers (the burst's newest) when that message
is no longer the newest of the conversation as the reply goes out — something was said after
it: an operator's or a flow's message, an earlier reply, or a customer message the assistant
does not answer (a sticker, a reaction-like notice) — because the customer would otherwise
read the reply as an answer to whatever came last. A reply that directly follows what it
answers quotes nothing (WhatsApp's own way: a quote only where the thread is not obvious).
"""

from __future__ import annotations

from collections.abc import Sequence


def quoted_message_id(answered: str, conversation: Sequence[str]) -> str:
    """The message a reply to `answered` quotes: `answered` when a message follows it in
    `conversation` (its message ids, oldest first), else "" (it is the newest, or not in the
    conversation as known)."""
    if not answered or answered not in conversation:
        return ""
    return answered if conversation[-1] != answered else ""
