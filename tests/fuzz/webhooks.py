"""Hostile webhook deliveries: documented shapes with hostile values, byte-level mutations,
garbage, the reproductions of issue 8, and valid messages that must be stored exactly once.

Every wamid a generator invents is unique to its role: `wamid.VALID…` for the valid messages,
`wamid.UNSIGNED…` for bodies sent without a valid signature, anything else for the hostile ones,
so the oracle can count each kind in the event log.
"""

from __future__ import annotations

import copy
import gzip
import random
from dataclasses import dataclass, field, replace
from typing import Any

from tests.fuzz import seeds, values
from tests.fuzz.cases import SIGNINGS, IdPool, WebhookCase
from tests.fuzz.jsonwriter import Pairs, Raw, write
from tests.fuzz.mutations import mutate_bytes, mutate_tree

# Bodies of at least this size may be refused with 413 (ingest's limit is just under 1 MiB).
MIN_TOO_LARGE = 128 * 1024
OVERSIZED = 1_100_000
MAX_BODY = 1_200_000  # larger ones only cost time: the first 413 says all
ODD_HEADERS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("Content-Encoding", "gzip"),),
    (("Content-Encoding", "deflate"),),
    (("Content-Encoding", "br"),),
    (("Content-Encoding", "identity, gzip"),),
    (("Content-Encoding", "x-unknown"),),
    (("Content-Type", "application/json; charset=utf-16"),),
    (("X-Hub-Signature", "sha1=00"),),
    (("Expect", "100-continue"),),
)


@dataclass(frozen=True)
class Numbers:
    """Business numbers: the demo tenant's (A), another tenant's (B), one only fuzz uses, and
    one where customers who sent hostile input write again later and must still be answered
    (no gRPC or gateway input touches it)."""

    demo: str = "109000000000501"
    tenant_b: str = "109000000000502"
    hostile: str = "109000000000666"
    follow_up: str = "109000000000503"


def hex_id(rng: random.Random, bits: int = 96) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


@dataclass
class WebhookGenerator:
    """Draws the next webhook case; the mix is fixed, the choices come from `rng`."""

    rng: random.Random
    numbers: Numbers = field(default_factory=Numbers)
    pool: IdPool = field(default_factory=IdPool)
    _sent_valid: list[WebhookCase] = field(default_factory=list)
    _customer: str = ""  # who wrote the last seed drawn, when it went to the follow-up number

    def next(self) -> WebhookCase:
        while True:
            case = self._draw()
            if len(case.body) <= MAX_BODY:
                break
        if self.rng.random() < 0.03:
            headers = self.rng.choice(ODD_HEADERS)
            case = replace(case, headers=headers, note=f"headers {headers}; {case.note}")
        return case

    def _draw(self) -> WebhookCase:
        roll = self.rng.random()
        if roll < 0.06:
            return self.valid()
        if roll < 0.20:
            return self.unsigned()
        if roll < 0.24 and self.pool.replies:
            return self.status_of_a_reply()
        if roll < 0.55:
            return self.structured()
        if roll < 0.75:
            return self.mutated()
        if roll < 0.87:
            return self.batched()
        if roll < 0.99:
            return self.garbage()
        return self.rng.choice(reproductions(self.rng, self.numbers))

    # -- what must be accepted and stored ---------------------------------------------------

    def valid(self) -> WebhookCase:
        """One to three normal messages; a third of the time an earlier one delivered again."""
        rng = self.rng
        if self._sent_valid and rng.random() < 0.3:
            # The latest one is often still in flight: a concurrent duplicate.
            again = rng.choice([self._sent_valid[-1], rng.choice(self._sent_valid)])
            return WebhookCase(
                "valid",
                again.body,
                note="delivered again: " + again.note,
                valid_wamids=again.valid_wamids,
            )
        number = rng.choice([self.numbers.demo, self.numbers.hostile, self.numbers.tenant_b])
        wa_id = "1777" + str(rng.randrange(10**8)).zfill(8)
        kinds = [rng.choice(seeds.STORED_KINDS) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        messages = []
        for kind in kinds:
            found = seeds.message(kind, wa_id=wa_id, wamid="wamid.VALID" + hex_id(rng))
            if kind == "text" and rng.random() < 0.2:
                # At WhatsApp's bound, not past it: a correct platform keeps it whole.
                found["text"]["body"] = rng.choice(["é", "a", "😀"]) * 4096
            messages.append(found)
        body = seeds.envelope(number, {"contacts": [seeds.contact(wa_id)], "messages": messages})
        case = WebhookCase(
            "valid",
            write(body, ascii_only=rng.random() < 0.5),
            note=f"{'+'.join(kinds)} from {wa_id} to {number}",
            valid_wamids=tuple(m["id"] for m in messages),
        )
        self._sent_valid.append(case)
        del self._sent_valid[:-200]
        return case

    def unsigned(self) -> WebhookCase:
        """A body of any kind without a valid signature: refused, nothing of it kept."""
        rng = self.rng
        wamid = "wamid.UNSIGNED" + hex_id(rng)
        if rng.random() < 0.6:
            tree = self._seed_tree(wamid=wamid)
            if rng.random() < 0.5:
                mutate_tree(rng, tree, count=rng.randrange(1, 3))
            body = write(tree, ascii_only=rng.random() < 0.5)
            wamids: tuple[str, ...] = (wamid,)
        else:
            body, wamids = self.garbage().body, ()
        signing = rng.choice([s for s in SIGNINGS if s != "valid"])
        return WebhookCase("unsigned", body, signing=signing, note=signing, unsigned_wamids=wamids)

    # -- hostile, signed ---------------------------------------------------------------------

    def structured(self) -> WebhookCase:
        """A documented shape with one to four hostile values, types, keys or nestings."""
        rng = self.rng
        tree = self._seed_tree(wamid="wamid.H" + hex_id(rng))
        customer = self._customer
        notes = mutate_tree(rng, tree, count=rng.choice([1, 1, 2, 3, 4]))
        return WebhookCase(
            "structured",
            write(tree, ascii_only=rng.random() < 0.5),
            note="; ".join(notes),
            customer=customer,
        )

    def status_of_a_reply(self) -> WebhookCase:
        """A status about a reply the platform really sent, with hostile values: out of
        order, repeated, from the far future, with broken errors or pricing."""
        rng = self.rng
        wamid, wa_id = rng.choice(self.pool.replies[-300:])
        state = rng.choice(["sent", "delivered", "read", "played", "failed", "deleted", "x"])
        found = seeds.status(state, wamid=wamid, wa_id=wa_id)
        document = seeds.envelope(self.numbers.follow_up, {"statuses": [found]})
        notes = [f"{state} status of reply {wamid} to {wa_id}"]
        notes += mutate_tree(rng, document, count=rng.choice([0, 1, 1, 2, 3]))
        return WebhookCase(
            "reply_status",
            write(document, ascii_only=rng.random() < 0.5),
            note="; ".join(notes),
            customer=wa_id,
        )

    def mutated(self) -> WebhookCase:
        """A documented shape's bytes flipped, cut, repeated or spliced with another's."""
        rng = self.rng
        base = write(self._seed_tree(wamid="wamid.M" + hex_id(rng)), ascii_only=False)
        other = write(self._seed_tree(wamid="wamid.M" + hex_id(rng)), ascii_only=True)
        body, notes = mutate_bytes(rng, base, other)
        return WebhookCase("mutated", body, note="; ".join(notes))

    def batched(self) -> WebhookCase:
        """Many entries, changes, messages and statuses in one body, some of them hostile."""
        rng = self.rng
        number = self._number()
        wa_id = self._wa_id()
        count = rng.choices([2, 5, 10, 30, 100], weights=[8, 6, 4, 2, 1])[0]
        items = []
        for _ in range(count):
            wamid = "wamid.B" + hex_id(rng)
            if rng.random() < 0.7:
                items.append(("messages", seeds.message(self._kind(), wa_id=wa_id, wamid=wamid)))
            else:
                state = rng.choice(["sent", "delivered", "read", "failed", "deleted", "bogus"])
                items.append(("statuses", seeds.status(state, wamid=wamid, wa_id=wa_id)))
        if rng.random() < 0.5:
            for _ in range(rng.randrange(1, 4)):
                mutate_tree(rng, rng.choice(items)[1], count=1)
        layout = rng.choice(["one change", "one entry per item", "one change per item"])
        if layout == "one change":
            value: dict[str, Any] = {"contacts": [seeds.contact(wa_id)]}
            for key, item in items:
                value.setdefault(key, []).append(item)
            body = seeds.envelope(number, value)
        else:
            bodies = [seeds.envelope(number, {key: [item]}) for key, item in items]
            body = bodies[0]
            if layout == "one entry per item":
                body["entry"] = [b["entry"][0] for b in bodies]
            else:
                body["entry"][0]["changes"] = [b["entry"][0]["changes"][0] for b in bodies]
        note = f"{count} items, {layout}"
        return WebhookCase(
            "batched",
            write(body, ascii_only=rng.random() < 0.5),
            note=note,
            customer=wa_id if number == self.numbers.follow_up else "",
        )

    def garbage(self) -> WebhookCase:
        """Not a webhook at all: random bytes, other JSON, other encodings, deep nesting."""
        rng = self.rng
        good = write(self._seed_tree(wamid="wamid.G" + hex_id(rng)), ascii_only=False)
        choices: list[tuple[str, bytes]] = [
            ("random bytes", rng.randbytes(rng.choice([1, 16, 300, 5000, 100_000]))),
            ("empty", b""),
            ("null", b"null"),
            ("a list", b"[]"),
            ("a string", b'"entry"'),
            ("a huge number", b"1e999"),
            ("NaN", b"NaN"),
            ("cut", good[: rng.randrange(1, max(2, len(good)))]),
            ("BOM", b"\xef\xbb\xbf" + good),
            ("UTF-16", good.decode("utf-8", "replace").encode("utf-16")),
            ("trailing bytes", good + b"\x00garbage"),
            ("gzip", gzip.compress(good)),
            ("deep nesting", write(values.deep_nesting(rng), ascii_only=True)),
            ("entry twice", b'{"entry":[],"entry":"x","object":"whatsapp_business_account"}'),
            ("entry null", b'{"object":"whatsapp_business_account","entry":null}'),
            ("entries of numbers", b'{"entry":[1,2,3]}'),
            ("comments", b"// hi\n" + good),
            (
                "lone surrogate key",
                write({"\ud800": good.decode("utf-8", "replace")}, ascii_only=False),
            ),
        ]
        if rng.random() < 0.01:
            padding = "x" * OVERSIZED
            choices = [("oversized", b'{"entry":[],"pad":"' + padding.encode() + b'"}')]
        note, body = rng.choice(choices)
        content_type = rng.choice(
            ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
        )
        return WebhookCase("garbage", body, note=note, content_type=content_type)

    # -- helpers -----------------------------------------------------------------------------

    def _number(self) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.numbers.hostile
        if roll < 0.6:
            return self.numbers.follow_up
        return self.numbers.demo if roll < 0.9 else self.numbers.tenant_b

    def _wa_id(self) -> str:
        return "1999" + str(self.rng.randrange(10**8)).zfill(8)

    def _kind(self) -> str:
        return self.rng.choice(list(seeds.MESSAGE_KINDS))

    def _seed_tree(self, *, wamid: str) -> dict[str, Any]:
        number, wa_id = self._number(), self._wa_id()
        self._customer = wa_id if number == self.numbers.follow_up else ""
        bodies = seeds.documented(number, wa_id, wamid)
        return copy.deepcopy(self.rng.choice(bodies))


def reproductions(rng: random.Random, numbers: Numbers) -> list[WebhookCase]:
    """The single inputs issue 8 found stopping the platform, each signed, as found."""
    wa_id = "1888" + str(rng.randrange(10**8)).zfill(8)

    def body(note: str, message_fields: dict[str, Any], **value: Any) -> WebhookCase:
        wamid = "wamid.R" + hex_id(rng)
        found = {**seeds.message("text", wa_id=wa_id, wamid=wamid), **message_fields}
        number = value.pop("number", numbers.follow_up)
        document = seeds.envelope(
            number, {"contacts": [seeds.contact(wa_id)], "messages": [found], **value}
        )
        return WebhookCase(
            "reproduction", write(document, ascii_only=True), note=note, customer=wa_id
        )

    far_future = {"timestamp": "253402300799"}
    referral = {"referral": {"source_type": "ad", "source_id": "1", "ctwa_clid": "x"}}
    surrogate = body("lone surrogate, escaped", {"text": {"body": "a\ud800b"}})
    raw_surrogate = WebhookCase(
        "reproduction",
        surrogate.body.replace(b"\\ud800", b"\xed\xa0\x80"),
        note="lone surrogate, raw bytes ED A0 80",
        customer=wa_id,
    )
    shared = "wamid.SHARED" + hex_id(rng)
    return [
        body(
            "1: oversized location",
            {
                "type": "location",
                "location": {"latitude": "x" * 200_000, "longitude": "x" * 200_000},
            },
        ),
        body("1: text body of 400,000", {"text": {"body": "y" * 400_000}}),
        body("2: phone_number_id of 3,000", {}, number="1" * 3000),
        body("3: timestamp of 70,000", {"timestamp": "A" * 70_000}),
        surrogate,
        raw_surrogate,
        body("6: far-future timestamp", far_future),
        body("6: far-future timestamp with a referral", {**far_future, **referral}),
        body("7: NUL in the text", {"text": {"body": "a\x00b"}}),
        WebhookCase(
            "reproduction",
            body(
                "7: 1e999 latitude",
                {"type": "location", "location": {"latitude": 0.25, "longitude": 1}},
            ).body.replace(b"0.25", b"1e999"),
            note="7: 1e999 latitude",
        ),
        body("10: message id of 65,536", {"id": "wamid." + "A" * 65_530}),
        body("10: one id in two conversations (1)", {"id": shared}),
        body("10: one id in two conversations (2)", {"id": shared, "from": "1888000000001"}),
        WebhookCase(
            "reproduction",
            write(
                Pairs([("object", "whatsapp_business_account"), ("entry", Raw("[" * 5000))]),
                ascii_only=True,
            ),
            note="9: 5,000 [",
        ),
        body(
            "NaN as a number",
            {"type": "location", "location": {"latitude": Raw("NaN"), "longitude": 1}},
        ),
    ]


def found_by_fuzzing(rng: random.Random, numbers: Numbers) -> list[WebhookCase]:
    """Inputs `make fuzz` found answered 5xx or never answered, kept as regressions."""
    wa_id = "1888" + str(rng.randrange(10**8)).zfill(8)
    wamid = "wamid.F" + hex_id(rng)
    document = seeds.envelope(
        numbers.follow_up,
        {
            "contacts": [seeds.contact(wa_id)],
            "messages": [seeds.message("text", wa_id=wa_id, wamid=wamid)],
        },
    )
    plain = write(document, ascii_only=True)
    nested = b'{"a":' * 16_000 + b"1" + b"}" * 16_000
    return [
        WebhookCase(
            "found",
            plain,
            note=f"a plain body said to be {encoding} (was 500)",
            headers=(("Content-Encoding", encoding),),
            customer=wa_id,
        )
        for encoding in ("gzip", "deflate")
    ] + [
        WebhookCase(
            "found",
            nested,
            signing=signing,
            note="96 KB of nesting said to be deflate (never answered)",
            headers=(("Content-Encoding", "deflate"),),
        )
        for signing in ("valid", "missing")
    ]
