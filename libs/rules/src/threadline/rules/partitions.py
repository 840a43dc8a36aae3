"""Which partition of the session a customer's facts belong to (issue 15, item 2).

The session runs as several instances, each owning some partitions with a lease; every fact it
records travels on a subject that names its partition, so that one customer's facts (their
messages and statuses from ingest, the assistant's answers, outbound's dispatch reports) are
read in order by the one instance that owns them.

A customer is hashed once, into one of `SLOTS` slots; a partition is a slot modulo the number of
partitions. Ingest knows the customer (phone number id and `wa_id`, else the BSUID); the AI
responder and outbound know only the conversation. So the session opens each conversation
with an id that carries its customer's slot (`conversation_id_in_slot`): the last three hex
digits of the UUID. Any number of partitions up to `SLOTS` then agrees on both sides, and a
conversation id made before partitioning (a plain uuid4) still maps to *some* partition: the
store's optimistic concurrency keeps it correct, only its order across two partitions is not
kept.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Final
from uuid import UUID

SLOTS: Final = 4096  # the most partitions there can be (12 bits of a conversation id)
_SLOT_BITS: Final = 0xFFF


def customer_slot(phone_number_id: str, wa_id: str, user_id: str = "") -> int:
    """The slot of the customer `wa_id` (else the BSUID `user_id`) of `phone_number_id`.

    `wa_id` first: a payload carries it whenever WhatsApp knows it, and the session opens a
    conversation under the same rule, so the two sides agree. A person first known only by
    BSUID and later by both may land in two partitions (correct, not ordered across them)."""
    customer = wa_id or user_id
    return zlib.crc32(f"{phone_number_id}:{customer}".encode()) % SLOTS


def conversation_id_in_slot(slot: int) -> UUID:
    """A random (version 4) conversation id whose last 12 bits are `slot`."""
    if not 0 <= slot < SLOTS:
        raise ValueError(f"slot must be 0 to {SLOTS - 1}, got {slot}")
    return UUID(int=(uuid.uuid4().int & ~_SLOT_BITS) | slot)


def conversation_slot(conversation_id: str | UUID) -> int:
    """The slot a conversation id carries (a string that is no UUID: its CRC-32's)."""
    if isinstance(conversation_id, UUID):
        return conversation_id.int & _SLOT_BITS
    try:
        return UUID(conversation_id).int & _SLOT_BITS
    except ValueError:
        return zlib.crc32(conversation_id.encode()) % SLOTS


def partition_of(slot: int, partitions: int) -> int:
    """The partition, of `partitions`, that owns `slot`."""
    if not 1 <= partitions <= SLOTS:
        raise ValueError(f"partitions must be 1 to {SLOTS}, got {partitions}")
    return slot % partitions
