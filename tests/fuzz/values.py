"""Hostile values for one field: strings, numbers, timestamps and ids a broken or malicious
sender could put where WhatsApp puts a name, a text, a Unix time or a wamid.

Sizes are mostly small; a few are huge (past WhatsApp's 4,096-character text, past 64 KiB log
lines, near NATS's 1 MiB payload), drawn rarely so a long run does not fill the disk.
"""

from __future__ import annotations

import random
import time

from tests.fuzz.jsonwriter import Pairs, Raw

LONE_SURROGATES = ("\ud800", "\udfff", "\udc00x", "a\ud83d", "\ud83d\ud83d")
ODD_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 64,
    "\t\r\n\x0b\x0c",
    "\x1b[31mred\x1b[0m",
    "\u202egnp.exe",
    "\u200b\u200d\ufeff",
    "\uffff\ufffe",
    "\U0010ffff",
    "e\u0301" * 50,
    "👩‍👩‍👧‍👦" * 20,
    "\u0661\u0662\u0663\u0664",
    "'; DROP TABLE messages; --",
    "%s%s%n%x",
    "{{1}} {{2}} {{999999999}}",
    "${jndi:ldap://x}",
    "../../../../etc/passwd",
    "a.b.*.>",
    " ingest.events.> ",
    "null",
    "true",
    "1e999",
    "NaN",
    "-0",
    "<script>alert(1)</script>",
    "\\u0000",
    "\\ud800",
)
# Lengths that cross a bound: WhatsApp's caption (1,024) and text (4,096), PostgreSQL's index row
# (~2,700 bytes), NATS subject tokens, 64 KiB log lines, a large share of 1 MiB.
LENGTHS = (1025, 2800, 3000, 4097, 8193, 65_536, 70_000, 200_000, 400_000)
HUGE_FROM = 65_536


def length(rng: random.Random) -> int:
    """A length past some bound; the huge ones (64 KiB and more) one time in a hundred."""
    if rng.random() < 0.01:
        return rng.choice([n for n in LENGTHS if n >= HUGE_FROM])
    return rng.choice([n for n in LENGTHS if n < HUGE_FROM])


def long_text(rng: random.Random) -> str:
    unit = rng.choice(["x", "é", "你", "😀", "\x00", "\ud800", "a\u0301", "%"])
    return unit * max(1, length(rng) // max(1, len(unit.encode("utf-8", "surrogatepass"))))


def hostile_string(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(ODD_TEXT)
    if roll < 0.45:
        return "ok " + rng.choice(LONE_SURROGATES) + " ok"
    if roll < 0.60:
        return long_text(rng)
    if roll < 0.80:
        return "".join(chr(rng.randrange(0, 0x110000)) for _ in range(rng.randrange(1, 40)))
    return "".join(chr(rng.randrange(0, 0x80)) for _ in range(rng.randrange(1, 80)))


def hostile_number(rng: random.Random) -> object:
    return rng.choice(
        [
            Raw("1e999"),
            Raw("-1e999"),
            Raw("NaN"),
            Raw("Infinity"),
            Raw("-Infinity"),
            Raw("1" + "0" * rng.choice([20, 400, 4300, 5000])),
            Raw("-0"),
            Raw("1e-400"),
            Raw("0.1e+999999999"),
            2**63,
            2**64,
            -(2**63) - 1,
            -1,
            0,
            1.5,
            float("-0.0"),
            True,
            "12",
        ]
    )


def hostile_timestamp(rng: random.Random) -> object:
    now = int(time.time())
    return rng.choice(
        [
            "253402300799",
            "253402300800",
            "-62135596800",
            "-62135596801",
            "0",
            "-1",
            "1",
            str(now + 10 * 365 * 86400),
            str(now + 3600),
            str(now - 10 * 365 * 86400),
            str(now - 8 * 86400),
            "A" * rng.choice([10, 70_000]),
            "1e10",
            "12.5",
            " 123 ",
            "0x10",
            "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
            "1_700_000_000",
            "+1700000000",
            "9" * 400,
            10**30,
            -(10**30),
            Raw("1e999"),
            Raw("NaN"),
            1.7e9,
            True,
            None,
            [],
            {},
            "",
            "\ud800",
            "17000000\x0000",
        ]
    )


def hostile_id(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.3:
        sizes = [300, 3000, 65_535, 65_536, 70_000] if rng.random() < 0.1 else [300, 3000]
        return "wamid." + "A" * rng.choice(sizes)
    if roll < 0.5:
        return hostile_string(rng)
    if roll < 0.6:
        return rng.choice([123, -1, 2**64, 1.5, True, None, [], {}])
    return "wamid." + rng.choice((*LONE_SURROGATES, "\x00", "..", "*", ">", " ", "/"))


def wrong_type(rng: random.Random, value: object) -> object:
    """Something of another JSON type than `value`."""
    choices: list[object] = [
        None,
        True,
        0,
        -1.5,
        "",
        "text",
        [],
        [value],
        {},
        {"value": value},
        Pairs([("a", 1), ("a", "2")]),
    ]
    return rng.choice([c for c in choices if type(c) is not type(value)])


def deep_nesting(rng: random.Random) -> Raw:
    depth = rng.choice([100, 1000, 5000, 20_000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return Raw(opener * depth + "1" + closer * depth)
