"""Hostile calls to every method of SessionCommands, EventLog, ConversationQueries and Metrics:
random bytes as the request, mutated requests, structurally valid requests with hostile field
values (written with `protowire`, so invalid UTF-8 and out-of-range Timestamps go out too),
and tenant probes. Tokens vary: every role, read-only, another tenant's, invalid, none."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tests.fuzz import protowire, values
from tests.fuzz.cases import TOKENS, GrpcCase, IdPool
from tests.fuzz.gateway import STATUSES
from tests.fuzz.mutations import mutate_bytes
from tests.fuzz.webhooks import Numbers
from threadline.contracts.analytics.v1 import analytics_pb2
from threadline.contracts.session.v1 import session_pb2

SESSION_SERVICES = ("threadline.session.v1.SessionCommands", "threadline.session.v1.EventLog")


@dataclass(frozen=True)
class Method:
    service: str
    name: str
    request: Descriptor
    streaming: bool


METHODS = tuple(
    Method(service.full_name, method.name, method.input_type, bool(method.server_streaming))
    for module in (session_pb2, analytics_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
)
BY_NAME = {m.name: m for m in METHODS}
# Methods that take a conversation id: the tenant probes.
CONVERSATION_METHODS = (
    "GetConversation",
    "ListMessages",
    "ListAttachments",
    "GetAttachment",
    "ListToolCalls",
    "UpdateConversationStatus",
    "HandOff",
    "ResumeAutopilot",
    "SendMessage",
)
INTS = (
    0,
    1,
    -1,
    7,
    100,
    501,
    5001,
    2**31 - 1,
    2**31,
    -(2**31),
    2**32 - 1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
)
SECONDS = (
    0,
    -1,
    1_700_000_000,
    -62_135_596_800,
    -62_135_596_801,
    253_402_300_799,
    253_402_300_800,
    2**63 - 1,
    -(2**63),
)
NANOS = (0, -1, 999_999_999, 1_000_000_000, 2**31 - 1, -(2**31))


@dataclass
class GrpcGenerator:
    rng: random.Random
    pool: IdPool
    numbers: Numbers = field(default_factory=Numbers)
    _notes: list[str] = field(default_factory=list)

    def next(self) -> GrpcCase:
        rng = self.rng
        self._notes.clear()
        roll = rng.random()
        if roll < 0.08 and (self.pool.conversations_a or self.pool.contacts_a):
            return self.tenant_probe()
        method = rng.choice(METHODS)
        token = rng.choices(TOKENS, weights=[6, 2, 2, 1, 1, 1])[0]
        if roll < 0.25:
            size = rng.choice([0, 1, 5, 50, 500, 20_000])
            request, kind, note = rng.randbytes(size), "random_bytes", f"{size} random bytes"
        elif roll < 0.4:
            base = self._message(method, method.request, hostile=0)
            request, notes = mutate_bytes(
                rng, base, self._message(method, method.request, hostile=1)
            )
            kind, note = "mutated", "; ".join(notes)
        else:
            hostile = rng.choice([1, 1, 2, 3, 99])
            request = self._message(method, method.request, hostile=hostile)
            kind, note = "hostile_proto", "; ".join(self._notes)[:500]
        return GrpcCase(kind, method.service, method.name, request, method.streaming, token, note)

    def tenant_probe(self) -> GrpcCase:
        """Another tenant's conversation, or a contact id as a conversation: NOT_FOUND."""
        rng = self.rng
        use_contact = bool(self.pool.contacts_a) and (
            not self.pool.conversations_a or rng.random() < 0.4
        )
        some = rng.choice(
            (self.pool.contacts_a if use_contact else self.pool.conversations_a)[-500:]
        )
        name = rng.choice((*CONVERSATION_METHODS, "ReadStream"))
        token = (
            rng.choice(["admin", "tenant_b"])
            if use_contact and name != "ReadStream"
            else "tenant_b"
        )
        method = BY_NAME[name]
        id_field = "stream_id" if name == "ReadStream" else "conversation_id"
        request = protowire.bytes_field(
            method.request.fields_by_name[id_field].number, some.encode()
        ) + self._probe_extras(method)
        what = "a contact id" if use_contact else "tenant A's conversation"
        return GrpcCase(
            "tenant_probe",
            method.service,
            name,
            request,
            method.streaming,
            token,
            f"{token} calls {name} with {what} {some}",
            expect_not_found=True,
        )

    def _probe_extras(self, method: Method) -> bytes:
        fields = method.request.fields_by_name
        extra = b""
        if "idempotency_key" in fields:
            extra += protowire.bytes_field(
                fields["idempotency_key"].number, b"probe-" + uuid.uuid4().hex.encode()
            )
            content = protowire.bytes_field(1, b"text") + protowire.bytes_field(2, b"probe")
            extra += protowire.bytes_field(fields["content"].number, content)
        if "status" in fields:
            extra += protowire.bytes_field(fields["status"].number, b"completed")
        if "message_id" in fields:  # GetAttachment: a well-formed id, so scope is what refuses
            extra += protowire.bytes_field(fields["message_id"].number, uuid.uuid4().hex.encode())
        return extra

    # -- requests written field by field -----------------------------------------------------

    def _message(
        self, method: Method, descriptor: Descriptor, *, hostile: int, depth: int = 0
    ) -> bytes:
        """A request of `descriptor`'s type: plausible values, `hostile` of them replaced."""
        rng = self.rng
        fields = list(descriptor.fields)
        chosen = [f for f in fields if rng.random() < 0.8]
        bad = set(rng.sample(chosen, k=min(hostile, len(chosen))))
        out = bytearray()
        for f in chosen:
            out += self._field(method, f, hostile=f in bad, depth=depth)
        if hostile and rng.random() < 0.15:
            out += self._odd_field(descriptor)
        return bytes(out)

    def _field(self, method: Method, f: FieldDescriptor, *, hostile: bool, depth: int) -> bytes:
        rng = self.rng
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            nested = f.message_type
            assert nested is not None
            if nested.full_name == "google.protobuf.Timestamp":
                return protowire.bytes_field(f.number, self._timestamp(f, hostile=hostile))
            if depth > 3:
                return b""
            inner = self._message(method, nested, hostile=int(hostile) * 2, depth=depth + 1)
            return protowire.bytes_field(f.number, inner)
        if f.type == FieldDescriptor.TYPE_STRING:
            value = self._hostile_text(f) if hostile else self._plausible_text(method, f)
            if hostile:
                self._note(f"{f.name}={values_preview(value)}")
            return protowire.bytes_field(f.number, protowire.text(value))
        if f.type == FieldDescriptor.TYPE_BOOL:
            flag = rng.choice([0, 1, 2, 2**64 - 1]) if hostile else 1
            return protowire.varint_field(f.number, flag)
        if f.type == FieldDescriptor.TYPE_DOUBLE:
            return protowire.fixed64_field(f.number, rng.randbytes(8))
        if hostile:
            number = rng.choice(INTS)
            overlong = rng.choice([0, 0, 0, 3])
            self._note(f"{f.name}={number}" + (" (overlong varint)" if overlong else ""))
            return protowire.varint_field(f.number, number, overlong=overlong)
        return protowire.varint_field(f.number, rng.choice([0, 1, 5, 20]))

    def _timestamp(self, f: FieldDescriptor, *, hostile: bool) -> bytes:
        rng = self.rng
        if not hostile:
            return protowire.varint_field(1, 1_700_000_000 + rng.randrange(10**7))
        seconds, nanos = rng.choice(SECONDS), rng.choice(NANOS)
        self._note(f"{f.name}=Timestamp({seconds}, {nanos})")
        return protowire.varint_field(1, seconds) + protowire.varint_field(2, nanos)

    def _plausible_text(self, method: Method, f: FieldDescriptor) -> str:
        rng = self.rng
        name = f.name
        if name in {"conversation_id", "stream_id"}:
            return self.pool.pick(rng, self.pool.conversations_a) or str(uuid.uuid4())
        if name in {"phone_number_id", "business_number"}:
            if method.name in ("SetAutopilot", "SetAutoResolution"):
                # Never the demo tenant's number: autopilot off there would stop its replies,
                # and a short auto-resolution would close its conversations under the checks.
                return rng.choice([self.numbers.hostile, self.numbers.tenant_b])
            return rng.choice([self.numbers.hostile, self.numbers.demo, self.numbers.tenant_b])
        plausible = {
            "status": rng.choice(STATUSES[:4]),
            "idempotency_key": uuid.uuid4().hex,
            "author": "agent",
            "customer_wa_id": "1999" + str(rng.randrange(10**8)),
            "customer": "1999" + str(rng.randrange(10**8)),
            "name": "order_update",
            "language": "en_US",
            "category": "UTILITY",
            "body": "Hi {{1}}, your order {{2}} is on its way",
            "format": rng.choice(["csv", "jsonl"]),
            "type": "text",
            "text": "Hello from the fuzzer",
            "payload_json": "{}",
            "reason": "fuzz",
        }
        return plausible.get(name, "")

    def _hostile_text(self, f: FieldDescriptor) -> str:
        rng = self.rng
        if f.name in {"conversation_id", "stream_id"} and rng.random() < 0.3:
            return rng.choice(
                [
                    str(uuid.uuid4()),
                    str(uuid.uuid4()).upper(),
                    "{" + str(uuid.uuid4()) + "}",
                    str(uuid.uuid4()).replace("-", ""),
                    "urn:uuid:" + str(uuid.uuid4()),
                ]
            )
        if f.name == "payload_json" and rng.random() < 0.5:
            return rng.choice(
                ['{"a":1e999}', "[" * 5000, '{"a":NaN}', "null", '{"body":"\\u0000"}']
            )
        if (
            f.name in {"phone_number_id", "business_number", "name", "language"}
            and rng.random() < 0.3
        ):
            return rng.choice(["1" * 3000, "x" * 70_000, "*", ""])
        return values.hostile_string(rng)

    def _odd_field(self, descriptor: Descriptor) -> bytes:
        rng = self.rng
        numbers = [f.number for f in descriptor.fields] or [1]
        number = rng.choice(numbers)
        choice = rng.randrange(5)
        self._note(f"odd field #{choice} on {number}")
        if choice == 0:
            return protowire.varint_field(rng.choice([99, 2**29 - 1, 19_000]), 1)
        if choice == 1:
            return protowire.fixed32_field(number, rng.randbytes(4))
        if choice == 2:
            return protowire.key(number, 3) + protowire.key(number, 4)  # a group
        if choice == 3:
            return protowire.key(number, 2) + protowire.varint(2**31)  # a length past the end
        return protowire.key(number, 7)  # no such wire type

    def _note(self, text: str) -> None:
        self._notes.append(text)


def values_preview(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 50 else f"{text[:30]}…({len(value)} chars)"
