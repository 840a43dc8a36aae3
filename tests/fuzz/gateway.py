"""Hostile requests to the JSON gateway: every route with every method, hostile paths, query
strings, headers and bodies, and tenant probes (tenant B asking for tenant A's ids)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.fuzz import values
from tests.fuzz.cases import TOKENS, HttpCase, IdPool
from tests.fuzz.jsonwriter import Pairs, Raw, write
from tests.fuzz.webhooks import Numbers

LIST_PARAMS = (
    "page",
    "size",
    "lead_id",
    "status",
    "channel",
    "business_number",
    "customer_phone",
    "assistant",
    "created_from",
    "created_to",
    "last_message_from",
    "last_message_to",
)
ROUTES = (
    ("GET", "/api/v1/conversations", LIST_PARAMS),
    ("GET", "/api/v1/conversations/{id}", ()),
    ("GET", "/api/v1/conversations/{id}/messages", ("limit", "offset")),
    ("PATCH", "/api/v1/conversations/{id}", ()),
    ("GET", "/api/crm/{customer}/session-status", ("business_number",)),
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "get", "FOO")
STATUSES = ("active", "escalated", "completed", "abandoned", "closed", "ACTIVE", "")
MOMENTS = (
    "2025-06-01",
    "2025-06-01T09:00:00Z",
    "2025-06-01T09:00:00+02:00",
    "2025-06-01T09:00:00 02:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "0000-00-00",
    "2025-13-45",
    "now",
    "1e999",
    "-1",
    "2025-06-01T25:61:61",
)
INTEGERS = (
    "0",
    "-1",
    "1",
    "2147483647",
    "2147483648",
    "-2147483648",
    "99999999999999999999",
    "1.5",
    "1e3",
    "0x10",
    " 7 ",
    "\u0661",
    "NaN",
    "",
    "+5",
    "-0",
)


def encoded(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass
class GatewayGenerator:
    rng: random.Random
    pool: IdPool
    numbers: Numbers = field(default_factory=Numbers)

    def next(self) -> HttpCase:
        rng = self.rng
        if rng.random() < 0.1 and (self.pool.conversations_a or self.pool.contacts_a):
            return self.tenant_probe()
        if rng.random() < 0.1:
            return self.ingest()
        method, template, params = rng.choice(ROUTES)
        if rng.random() < 0.2:
            method = rng.choice(METHODS)
        notes = []
        path, note = self._path(template)
        notes.append(note)
        query = self._query(params)
        if query:
            notes.append("query " + query[:80])
        target = path.encode("latin-1", "replace") + (
            b"?" + query.encode("latin-1", "replace") if query else b""
        )
        if rng.random() < 0.05:
            target = self._raw_target(target)
            notes.append("raw bytes in the target")
        token = rng.choices(TOKENS, weights=[6, 2, 2, 1, 1, 1])[0]
        headers, header_note = self._headers()
        if header_note:
            notes.append(header_note)
        body = b""
        if method.upper() in {"PATCH", "POST", "PUT"} or rng.random() < 0.05:
            body, body_note = self._body()
            notes.append(body_note)
        return HttpCase("hostile", method, target, token, headers, body, "; ".join(notes))

    def tenant_probe(self) -> HttpCase:
        """Tenant B (or anyone, with a contact id) asks for tenant A's id: must look absent."""
        rng = self.rng
        use_contact = bool(self.pool.contacts_a) and rng.random() < 0.4
        ids = self.pool.contacts_a if use_contact else self.pool.conversations_a
        if not ids:
            ids, use_contact = self.pool.contacts_a, True
        some = rng.choice(ids[-500:])
        token = rng.choice(["admin", "tenant_b"]) if use_contact else "tenant_b"
        method, suffix, body = rng.choice(
            [
                ("GET", "", b""),
                ("GET", "/messages", b""),
                ("PATCH", "", b'{"status":"completed","reason":"probe"}'),
            ]
        )
        what = "a contact id" if use_contact else "tenant A's conversation"
        return HttpCase(
            "tenant_probe",
            method,
            f"/api/v1/conversations/{some}{suffix}".encode(),
            token,
            (),
            body,
            f"{token} asks for {what} ({method} {suffix or '/'})",
            expect_not_found=True,
        )

    def ingest(self) -> HttpCase:
        """Ingest's own routes: the subscription handshake with hostile query strings, other
        methods and paths."""
        rng = self.rng
        method = rng.choice(["GET", "GET", "GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"])
        path = rng.choice(["/webhooks/whatsapp", "/webhooks/whatsapp/", "/webhooks", "/", "/x"])
        params = []
        for name in ("hub.mode", "hub.verify_token", "hub.challenge"):
            if rng.random() < 0.8:
                value = rng.choice(["subscribe", "", values.hostile_string(rng)[:3000]])
                params.append(f"{name}={encoded(value)}")
        if rng.random() < 0.1:
            params.append(rng.choice(["%", "hub.mode", "hub.challenge=%ED%A0%80", "&&&"]))
        target = (path + "?" + "&".join(params)).encode()
        body = rng.randbytes(rng.choice([0, 0, 10, 1000])) if method != "GET" else b""
        return HttpCase(
            "ingest", method, target, "missing", body=body, note=f"ingest {method}", server="ingest"
        )

    def _path(self, template: str) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            some = self.pool.pick(rng, self.pool.conversations_a) or str(
                uuid.UUID(int=rng.getrandbits(128))
            )
        elif roll < 0.4:
            some = str(uuid.UUID(int=rng.getrandbits(128)))
        elif roll < 0.5:
            some = rng.choice(
                ["", ".", "..", "%2F", "%00", "%ED%A0%80", "%FF%FE", "%", "%zz", "a/b", "~"]
            )
            return template.replace("{id}", some).replace("{customer}", some), f"id {some!r}"
        else:
            some = encoded(values.hostile_string(rng))[:9000]
        if "{customer}" in template:
            some = rng.choice([some, "+" + str(rng.randrange(10**12)), "1555" + "0" * 7, "US.123"])
        path = template.replace("{id}", some).replace("{customer}", some)
        if rng.random() < 0.05:
            path = rng.choice(
                ["//", "/api/v1/", "/api/v1/conversations/", "/api/v2/x", "/", "*"]
            ) + ("" if rng.random() < 0.5 else path)
        return path, f"path {path[:80]!r}"

    def _query(self, params: tuple[str, ...]) -> str:
        rng = self.rng
        if not params and rng.random() < 0.8:
            return ""
        names = [*params, "unknown", "page", "hub.mode", ""]
        chosen = rng.sample(names, k=min(len(names), rng.randrange(0, 5)))
        parts = []
        for name in chosen:
            if name in {"page", "size", "limit", "offset"}:
                value = rng.choice(INTEGERS)
            elif name.endswith(("_from", "_to")):
                value = rng.choice(MOMENTS)
            elif name == "status":
                value = rng.choice((*STATUSES, "\x00", "\ud800"))
            elif name == "business_number":
                value = rng.choice([self.numbers.demo, self.numbers.tenant_b, "*", "1" * 3000])
            else:
                value = values.hostile_string(rng)[:5000]
            parts.append(f"{encoded(name)}={encoded(value)}")
            if rng.random() < 0.1:
                parts.append(f"{encoded(name)}={encoded(values.hostile_string(rng)[:100])}")
        if rng.random() < 0.1:
            parts.append(rng.choice(["%", "%zz", "a=%ED%A0%80", "=", "&&", "page", "size=%00"]))
        return "&".join(parts)

    def _raw_target(self, target: bytes) -> bytes:
        rng = self.rng
        nasty = rng.choice([b"\xff", b"\x00", b" ", b"\xed\xa0\x80", b"#frag", b"\t", b"?"])
        at = rng.randrange(1, len(target) + 1)
        return target[:at] + nasty + target[at:]

    def _headers(self) -> tuple[tuple[tuple[bytes, bytes], ...], str]:
        rng = self.rng
        if rng.random() < 0.8:
            return ((b"Content-Type", b"application/json"),), ""
        headers = rng.choice(
            [
                ((b"Authorization", b"Bearer \xff\xfe"),),
                ((b"Authorization", b"Bearer " + b"x" * 7000),),
                ((b"Authorization", b"Bearer a"), (b"Authorization", b"Bearer b")),
                ((b"Content-Type", b"application/json; charset=utf-16"),),
                ((b"Content-Type", b"\x00"),),
                ((b"X-Forwarded-For", b"127.0.0.1, ::1"),),
                ((b"Accept", b"*/*;q=NaN"),),
                ((b"Content-Encoding", b"gzip"),),
                ((b"Expect", b"100-continue"),),
            ]
        )
        return headers, f"headers {headers!r}"[:120]

    def _body(self) -> tuple[bytes, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            status: object = rng.choice([*STATUSES, values.hostile_string(rng)])
            reason: object = rng.choice(["", "done", values.hostile_string(rng)])
            if rng.random() < 0.2:
                status = values.wrong_type(rng, status)
            document: object = {"status": status, "reason": reason}
        elif roll < 0.55:
            document = Pairs([("status", "completed"), ("status", values.wrong_type(rng, "x"))])
        elif roll < 0.7:
            document = values.deep_nesting(rng)
        else:
            document = rng.choice(
                [
                    Raw("["),
                    Raw("{"),
                    Raw("null"),
                    Raw("NaN"),
                    Raw('{"status":1e999}'),
                    [],
                    "x",
                    Raw('"' + "[" * 5000 + '"'),
                    {"status": "active", "x": "y" * 70_000},
                ]
            )
        body = write(document, ascii_only=rng.random() < 0.5)
        return body, f"body {body[:60]!r} ({len(body)} bytes)"


def found_by_fuzzing() -> list[HttpCase]:
    """Requests `make fuzz` found answered 5xx, kept as regressions."""
    return [
        HttpCase(
            "found",
            "PATCH",
            f"/api/v1/conversations/{uuid.UUID(int=1)}".encode(),
            headers=((b"Content-Type", b"application/json"), (b"Content-Encoding", b"gzip")),
            body=b'{"status":"completed"}',
            note="a plain PATCH body said to be gzip (was 500)",
        )
    ]
