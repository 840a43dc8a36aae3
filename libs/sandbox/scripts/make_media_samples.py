"""Write the sandbox's sample media: a tiny PNG, a hand-written PDF, and (asked) the voice note.

    .venv/bin/python libs/sandbox/scripts/make_media_samples.py [--voice]

The PNG and the PDF are written by this script alone (no imaging or PDF library), so the files
in `src/threadline/sandbox/samples/` can be checked and remade anywhere. The voice note is a
real recording made with Debian's `espeak-ng` and `opusenc` (opus-tools) and shipped as is;
`--voice` remakes it when both are installed.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "src" / "threadline" / "sandbox" / "samples"
VOICE_TEXT = "Hello, do you have a table for two tonight at eight?"


def png(width: int = 16, height: int = 16) -> bytes:
    """An RGB PNG of a small gradient: signature, IHDR, one IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 16, y * 16, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def pdf() -> bytes:
    """A one-page PDF saying "Threadline sandbox invoice", with a correct cross-reference table."""
    text = b"BT /F1 18 Tf 36 96 Td (Threadline sandbox invoice) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 320 200] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def voice_note(target: Path) -> None:
    """Speak `VOICE_TEXT` with espeak-ng and encode it as a mono 16 kb/s OGG Opus file."""
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "voice.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), VOICE_TEXT], check=True
        )
        subprocess.run(
            ["opusenc", "--quiet", "--bitrate", "16", "--downmix-mono", str(wav), str(target)],
            check=True,
        )


def main() -> None:
    SAMPLES.mkdir(parents=True, exist_ok=True)
    (SAMPLES / "photo.png").write_bytes(png())
    (SAMPLES / "invoice.pdf").write_bytes(pdf())
    if "--voice" in sys.argv[1:]:
        voice_note(SAMPLES / "voice-note.ogg")


if __name__ == "__main__":
    main()
