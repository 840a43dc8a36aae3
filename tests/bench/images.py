"""Photos for the media benchmark: valid JPEG files of a chosen size, each one different.

No image library is needed: the file is a grey 8x8 baseline JPEG (one quantisation table, two
one-code Huffman tables, one block) with the size made up by comment segments (`FF FE`) of
random bytes, which decoders skip by their length. Random bytes make every file's sha256 its
own, so a content-addressed store cannot keep two of them as one.
"""

from __future__ import annotations

import os
import struct
from typing import Final

SOI: Final = b"\xff\xd8"
EOI: Final = b"\xff\xd9"
JFIF: Final = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
# One table of all ones (8-bit precision, table 0).
DQT: Final = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + b"\x01" * 64
# Baseline, 8 bits, 8x8 pixels, one component (id 1, sampling 1x1, table 0).
SOF0: Final = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 8, 8, 1) + b"\x01\x11\x00"
# DC table 0 and AC table 0, each one code of length 1 ("0"): DC category 0, AC end of block.
_ONE_CODE: Final = bytes([1] + [0] * 15) + b"\x00"
DHT: Final = b"\xff\xc4" + struct.pack(">H", 2 + 2 * 18) + b"\x00" + _ONE_CODE + b"\x10" + _ONE_CODE
# One component, tables 0/0, spectral selection 0..63, no approximation.
SOS: Final = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
# The block: DC difference 0 ("0"), end of block ("0"), padded with ones.
SCAN: Final = b"\x3f"
COMMENT_ROOM: Final = 65535 - 2  # a segment's length counts its own two bytes
_FIXED: Final = len(SOI + JFIF + DQT + SOF0 + DHT + SOS + SCAN + EOI)


def jpeg_of_size(size: int) -> bytes:
    """A valid JPEG of exactly `size` bytes (at least the bare image's, ~160), random inside."""
    room = size - _FIXED
    if room < 0:
        raise ValueError(f"a JPEG here is at least {_FIXED} bytes, not {size}")
    comments = bytearray()
    while room > 0:
        # A segment is 4 bytes of marker and length around its data; a tail too short for
        # one is folded into the segment before it.
        data = min(COMMENT_ROOM, room - 4)
        if 0 < room - (data + 4) < 4:
            data -= 4
        comments += b"\xff\xfe" + struct.pack(">H", data + 2) + os.urandom(data)
        room -= data + 4
    image = SOI + JFIF + bytes(comments) + DQT + SOF0 + DHT + SOS + SCAN + EOI
    assert len(image) == size, (len(image), size)
    return image
