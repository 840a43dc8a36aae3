"""Hostile operator file sends (issue 11 items 5 and 6): `SessionCommands.SendFiles` streams
written part by part (out of order, missing fields, oversized chunks, declared sizes that lie,
too many files, wrong types, long captions, odd names, another tenant's conversation) and the
gateway's `POST /api/v1/conversations/{id}/files` with hostile multipart bodies (no file part,
broken boundaries, enormous part headers, an Idempotency-Key reused with other files).

Every file's bytes are random and new, and each case names their sha256 (`files_sha256`): a
refused call must leave none of them in the media store (`oracle`).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field

from tests.fuzz import protowire, values
from tests.fuzz.cases import TOKENS, Case, GrpcCase, HttpCase, IdPool
from tests.fuzz.webhooks import Numbers
from threadline.contracts.session.v1 import session_pb2

SERVICE = "threadline.session.v1.SessionCommands"
MAX_CHUNK = 1024 * 1024
TYPES = (
    ("image/jpeg", "photo.jpg"),
    ("image/png", "chart.png"),
    ("application/pdf", "quote.pdf"),
    ("text/plain", "notes.txt"),
    ("audio/ogg", "voice.ogg"),
    ("image/webp", "sticker.webp"),
    ("video/mp4", "clip.mp4"),
)
WRONG_TYPES = (
    "",
    "application/x-msdownload",
    "text/html",
    "image/svg+xml",
    "image/*",
    "*/*",
    "IMAGE/JPEG; charset=utf-8",
    "image/jpeg\x00",
    "application/pdf, image/png",
    "x" * 3000,
)
ODD_NAMES = (
    "",
    " ",
    "a\x00b.pdf",
    "\x00",
    "../../etc/passwd",
    "\u202egnp.exe",
    "\ud800.pdf",
    "名前.pdf",
    "x" * 241,
    "x" * 70_000,
    "C:\\boot.ini",
    "a\r\nX-Injected: 1.pdf",
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PlannedFile:
    content_type: str
    file_name: str
    data: bytes
    caption: str = ""
    declared: int | None = None  # FileStart.size; None: the true size


@dataclass
class FilesGenerator:
    rng: random.Random
    pool: IdPool
    numbers: Numbers = field(default_factory=Numbers)
    _reused: list[tuple[str, str]] = field(default_factory=list)  # (conversation, key)

    def next(self) -> Case:
        return self.grpc() if self.rng.random() < 0.55 else self.gateway()

    # -- shared ---------------------------------------------------------------------------

    def _conversation(self) -> str:
        found = self.pool.pick(self.rng, self.pool.conversations_a)
        return found or str(uuid.UUID(int=self.rng.getrandbits(128)))

    def _plain_file(self, size: int | None = None) -> PlannedFile:
        rng = self.rng
        content_type, name = rng.choice(TYPES[:4])
        data = rng.randbytes(size if size is not None else rng.choice([16, 100, 5000]))
        return PlannedFile(content_type, name, data)

    def _files(self) -> tuple[list[PlannedFile], str]:
        """One to a few files, one of them made hostile in one way (or none, one time in
        five: a plain send that may be accepted)."""
        rng = self.rng
        files = [self._plain_file() for _ in range(rng.choice([1, 1, 2, 3]))]
        roll = rng.randrange(9)
        at = rng.randrange(len(files))
        f = files[at]
        if roll == 0:
            return files, "plain"
        if roll == 1:
            files[at] = PlannedFile(rng.choice(WRONG_TYPES), f.file_name, f.data)
            return files, f"files[{at}] content type {files[at].content_type[:40]!r}"
        if roll == 2:
            caption = rng.choice(["c" * 1025, "\x00", values.hostile_string(rng)])
            ctype, name = rng.choice(TYPES)
            files[at] = PlannedFile(ctype, name, f.data, caption=caption)
            return files, f"files[{at}] {ctype} caption of {len(caption)} chars"
        if roll == 3:
            name = rng.choice(ODD_NAMES)
            files[at] = PlannedFile(f.content_type, name, f.data)
            return files, f"files[{at}] name {name[:40]!r}"
        if roll == 4:
            lie = rng.choice([1, len(f.data) - 1, len(f.data) + 1, 2**62, -1, 100 * 1024 * 1024])
            files[at] = PlannedFile(f.content_type, f.file_name, f.data, declared=lie)
            return files, f"files[{at}] declares {lie} bytes, sends {len(f.data)}"
        if roll == 5:
            files = [self._plain_file(16) for _ in range(11)]
            return files, "11 files"
        if roll == 6:
            files[at] = PlannedFile("image/webp", "big.webp", rng.randbytes(500 * 1024 + 1))
            return files, f"files[{at}] a sticker over 500 KiB"
        if roll == 7:
            files[at] = PlannedFile(f.content_type, f.file_name, b"")
            return files, f"files[{at}] empty"
        files[at] = PlannedFile(f.content_type, f.file_name, f.data, caption="x" * 100)
        return files, f"files[{at}] a caption"

    def _text(self) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            return "", ""
        if roll < 0.8:
            return "Please see the attached.", ""
        text = rng.choice(["t" * 4097, "t" * 70_000, values.hostile_string(rng)])
        return text, f"text of {len(text)} chars"

    # -- gRPC -----------------------------------------------------------------------------

    def grpc(self) -> GrpcCase:
        rng = self.rng
        if rng.random() < 0.12 and self.pool.conversations_a:
            return self._grpc_probe()
        files, note = self._files()
        text, text_note = self._text()
        token = rng.choices(TOKENS, weights=[8, 1, 1, 1, 1, 1])[0]
        header = self._header(self._conversation(), text)
        parts = [header]
        for f in files:
            parts.append(self._start(f))
            parts += self._chunks(f.data)
        notes = [note, text_note]
        roll = rng.randrange(12)
        if roll == 0:
            parts = parts[1:]
            notes.append("no header")
        elif roll == 1:
            parts.insert(1, _chunk(rng.randbytes(10)))
            notes.append("a chunk before any file")
        elif roll == 2:
            parts.insert(rng.randrange(1, len(parts) + 1), header)
            notes.append("a second header")
        elif roll == 3:
            parts.append(_chunk(rng.randbytes(MAX_CHUNK + 1)))
            notes.append("a chunk over 1 MiB")
        elif roll == 4:
            parts = [header]
            notes.append("a header and no file")
        elif roll == 5:
            parts = [self._header_fields(hostile=True), *parts[1:]]
            notes.append("a hostile header")
        elif roll == 6:
            parts.insert(rng.randrange(len(parts) + 1), rng.randbytes(rng.choice([1, 7, 40])))
            notes.append("random bytes as one message")
        elif roll == 7:
            parts = [protowire.bytes_field(1, b""), *parts[1:]]
            notes.append("an empty header")
        elif roll == 8:
            parts.insert(1, protowire.bytes_field(2, b""))
            notes.append("a FileStart with no fields")
        elif roll == 9:
            parts = []
            notes.append("no message at all")
        return GrpcCase(
            "send_files",
            SERVICE,
            "SendFiles",
            b"",
            token=token,
            note="; ".join(n for n in notes if n)[:500],
            client_streaming=True,
            requests=tuple(parts),
            files_sha256=_digests(files),
        )

    def _grpc_probe(self) -> GrpcCase:
        """Tenant B sends files into tenant A's conversation: NOT_FOUND, nothing kept."""
        some = self.rng.choice(self.pool.conversations_a[-500:])
        f = self._plain_file()
        parts = (self._header(some, "probe"), self._start(f), *self._chunks(f.data))
        return GrpcCase(
            "tenant_probe",
            SERVICE,
            "SendFiles",
            b"",
            token="tenant_b",
            note=f"tenant_b sends a file into tenant A's conversation {some}",
            expect_not_found=True,
            client_streaming=True,
            requests=parts,
            files_sha256=_digests([f]),
        )

    def _header(self, conversation: str, text: str, key: str | None = None) -> bytes:
        fields = session_pb2.SendFilesHeader.DESCRIPTOR.fields_by_name
        inner = protowire.bytes_field(fields["conversation_id"].number, conversation.encode())
        if text:
            inner += protowire.bytes_field(fields["text"].number, protowire.text(text))
        key = key if key is not None else "fuzz-" + uuid.uuid4().hex
        inner += protowire.bytes_field(fields["idempotency_key"].number, key.encode())
        if self.rng.random() < 0.1:
            quoted = rng_id(self.rng)
            inner += protowire.bytes_field(fields["quoted_message_id"].number, quoted.encode())
        return protowire.bytes_field(1, inner)

    def _header_fields(self, *, hostile: bool) -> bytes:
        rng = self.rng
        fields = session_pb2.SendFilesHeader.DESCRIPTOR.fields
        inner = b""
        for f in fields:
            if rng.random() < 0.3:
                continue
            value = values.hostile_string(rng) if hostile else ""
            if f.name == "conversation_id" and rng.random() < 0.5:
                value = self._conversation()
            if f.name == "phone_number_id" and rng.random() < 0.5:
                value = rng.choice([self.numbers.demo, self.numbers.tenant_b, self.numbers.hostile])
            inner += protowire.bytes_field(f.number, protowire.text(value))
        return protowire.bytes_field(1, inner)

    def _start(self, f: PlannedFile) -> bytes:
        inner = protowire.bytes_field(1, protowire.text(f.file_name))
        inner += protowire.bytes_field(2, protowire.text(f.content_type))
        if f.caption:
            inner += protowire.bytes_field(3, protowire.text(f.caption))
        size = len(f.data) if f.declared is None else f.declared
        if size or self.rng.random() < 0.5:
            inner += protowire.varint_field(4, size & (2**64 - 1))
        return protowire.bytes_field(2, inner)

    def _chunks(self, data: bytes) -> list[bytes]:
        if not data:
            return [] if self.rng.random() < 0.5 else [_chunk(b"")]
        # Tiny chunks only for small files: 500 KiB in 7-byte messages is 75,000 of them.
        step = self.rng.choice([len(data), 7 if len(data) <= 5000 else 4096, 1000, 64 * 1024])
        return [_chunk(data[i : i + step]) for i in range(0, len(data), step)]

    # -- gateway --------------------------------------------------------------------------

    def gateway(self) -> HttpCase:
        rng = self.rng
        if rng.random() < 0.12 and self.pool.conversations_a:
            some = rng.choice(self.pool.conversations_a[-500:])
            f = self._plain_file()
            boundary = "b" + uuid.uuid4().hex
            body = _multipart(boundary, [_file_part(f)])
            return HttpCase(
                "tenant_probe",
                "POST",
                f"/api/v1/conversations/{some}/files".encode(),
                "tenant_b",
                ((b"Content-Type", f"multipart/form-data; boundary={boundary}".encode()),),
                body,
                f"tenant_b uploads into tenant A's conversation {some}",
                expect_not_found=True,
                files_sha256=_digests([f]),
            )
        conversation = self._conversation()
        files, note = self._files()
        text, text_note = self._text()
        boundary = "fuzz" + uuid.uuid4().hex
        parts = [_file_part(f) for f in files]
        parts += [_field_part("caption", f.caption) for f in files if f.caption]
        if text:
            parts.append(_field_part("text", text))
        notes = [note, text_note]
        content_type = f"multipart/form-data; boundary={boundary}".encode()
        headers: list[tuple[bytes, bytes]] = []
        key = "fuzz-" + uuid.uuid4().hex
        roll = rng.randrange(12)
        if roll == 0:
            parts = [
                p for p in parts if not p.startswith(b'Content-Disposition: form-data; name="file"')
            ]
            parts.append(_field_part("text", "no file"))
            notes.append("no file part")
        elif roll == 1:
            parts.append(_field_part(values.hostile_string(rng)[:200], "x"))
            notes.append("an unknown part")
        elif roll == 2:
            name = b"X-Big: " + b"h" * rng.choice([8000, 70_000])
            parts[0] = name + b"\r\n" + parts[0]
            notes.append("an enormous part header")
        elif roll == 3:
            content_type = rng.choice(
                [
                    b"multipart/form-data",
                    b"multipart/form-data; boundary=",
                    b"multipart/form-data; boundary=" + b"z" * 5000,
                    b"multipart/form-data; boundary=\xff\xfe",
                    b"multipart/form-data; boundary=other",
                    b"multipart/mixed; boundary=" + boundary.encode(),
                    b"application/octet-stream",
                    b"text/plain",
                ]
            )
            notes.append(f"Content-Type {content_type[:50]!r}")
        elif roll == 4:
            body = _multipart(boundary, parts)
            cut = rng.choice([len(body) // 2, len(body) - 5, 10])
            return self._upload(
                conversation, body[:cut], content_type, headers, key, files, [*notes, "cut short"]
            )
        elif roll == 5:
            body = _multipart(boundary, parts).replace(b"\r\n", b"\n")
            return self._upload(
                conversation, body, content_type, headers, key, files, [*notes, "bare LF"]
            )
        elif roll == 6:
            inner = "inner" + uuid.uuid4().hex
            nested = (
                f'Content-Disposition: form-data; name="file"\r\n'
                f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n"
            ).encode() + _multipart(inner, parts[:1])
            parts = [nested]
            notes.append("a nested multipart")
        elif roll == 7 and self._reused:
            conversation, key = rng.choice(self._reused)
            notes.append(f"Idempotency-Key {key} reused with other files")
        elif roll == 8:
            headers.append((b"Idempotency-Key", rng.choice([b"", b"\xff", b"k" * 300, b"a\x00b"])))
            notes.append("a hostile Idempotency-Key")
        if roll != 7 and rng.random() < 0.3:
            self._reused.append((conversation, key))
            del self._reused[:-50]
        body = _multipart(boundary, parts)
        return self._upload(conversation, body, content_type, headers, key, files, notes)

    def _upload(
        self,
        conversation: str,
        body: bytes,
        content_type: bytes,
        headers: list[tuple[bytes, bytes]],
        key: str,
        files: list[PlannedFile],
        notes: list[str],
    ) -> HttpCase:
        token = self.rng.choices(TOKENS, weights=[8, 1, 1, 1, 1, 1])[0]
        sent = [(b"Content-Type", content_type), *headers]
        if not any(name == b"Idempotency-Key" for name, _ in headers):
            sent.append((b"Idempotency-Key", key.encode()))
        return HttpCase(
            "send_files",
            "POST",
            f"/api/v1/conversations/{conversation}/files".encode(),
            token,
            tuple(sent),
            body,
            "; ".join(n for n in notes if n)[:500],
            files_sha256=_digests(files),
        )


def rng_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _chunk(data: bytes) -> bytes:
    return protowire.bytes_field(3, data)


def _digests(files: list[PlannedFile]) -> tuple[str, ...]:
    """The files worth looking for in the store (a few bytes could match another case's)."""
    return tuple(sha256(f.data) for f in files if len(f.data) >= 16)


def _file_part(f: PlannedFile) -> bytes:
    name = f.file_name.encode("utf-8", "surrogatepass").replace(b'"', b"%22")
    return (
        b'Content-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
        b"Content-Type: " + f.content_type.encode("utf-8", "surrogatepass") + b"\r\n\r\n" + f.data
    )


def _field_part(name: str, value: str) -> bytes:
    return (
        b'Content-Disposition: form-data; name="'
        + name.encode("utf-8", "surrogatepass").replace(b'"', b"%22")
        + b'"\r\n\r\n'
        + value.encode("utf-8", "surrogatepass")
    )


def _multipart(boundary: str, parts: list[bytes]) -> bytes:
    out = b""
    for part in parts:
        out += b"--" + boundary.encode() + b"\r\n" + part + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"
