"""Seeded mutations of bytes and JSON for the fuzz tests (pure, deterministic for a seed).

Each mutation applies one to four edits of the kinds that break parsers: a byte flipped, a run
deleted or duplicated, a slice of another sample spliced in, a token that parsers treat
specially (CRLF, colons, NUL, invalid UTF-8, a huge number, a long run) inserted, a line cut.
A failing case prints the seed and the case number; `GUESTGATE_FUZZ_SEED=<seed>` replays it.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

TOKENS: tuple[bytes, ...] = (
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b"=",
    b" ",
    b"\t",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\xed\xa0\x80",
    b"SIP/2.0",
    b"SIP/2.0 200 OK\r\n",
    b"INVITE sip:a@b SIP/2.0\r\n",
    b"Content-Length: 99999\r\n",
    b"Content-Length: -1\r\n",
    b"CSeq: 99999999999999999999 INVITE\r\n",
    b"Call-ID: \r\n",
    b"Reason: Q.850;cause=\r\n",
    b"RSeq: x\r\nRAck: 1\r\n",
    b"Require: 100rel\r\n",
    b"m=audio 0 RTP/AVP\r\n",
    b"c=IN IP4\r\n",
    b"a=rtpmap:\r\n",
    b"\xd4\xc3\xb2\xa1",
    b"\x0a\x0d\x0d\x0a",
    b"HEP3",
    b"9" * 40,
    b"A" * 600,
    b"%s%n",
    b"\\",
    b'"',
)


def fuzz_seed() -> int:
    """GUESTGATE_FUZZ_SEED if set (to replay a failure), else a new seed each run."""
    value = os.environ.get("GUESTGATE_FUZZ_SEED")
    return int(value) if value else time.time_ns() % 2**32


def mutate(rng: random.Random, sample: bytes, corpus: Sequence[bytes]) -> bytes:
    data = bytearray(sample)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(7)
        at = rng.randint(0, len(data))
        if kind == 0 and data:  # flip a byte
            at = min(at, len(data) - 1)
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 1:  # delete a run
            del data[at : at + rng.randint(1, 64)]
        elif kind == 2:  # duplicate a run
            data[at:at] = data[at : at + rng.randint(1, 256)]
        elif kind == 3:  # splice another sample in
            other = rng.choice(corpus)
            start = rng.randint(0, max(0, len(other) - 1))
            data[at:at] = other[start : start + rng.randint(1, 512)]
        elif kind == 4:  # a special token
            data[at:at] = rng.choice(TOKENS)
        elif kind == 5:  # cut short
            del data[at:]
        else:  # random bytes
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(data)


def mutations(seed: int, corpus: Sequence[bytes], count: int) -> Iterator[tuple[int, bytes]]:
    """(case number, mutated sample) for count cases, the same ones for the same seed."""
    rng = random.Random(seed)
    for case in range(count):
        yield case, mutate(rng, rng.choice(corpus), corpus)


def nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def mutate_json(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """A JSON value with its structure changed: types swapped, keys dropped or added, strings
    mangled, values nested, huge or odd numbers."""
    choice = rng.randrange(10)
    if isinstance(value, dict) and choice < 6 and depth < 4:
        result = dict(value)
        for key in list(result):
            if rng.random() < 0.3:
                result[key] = mutate_json(rng, result[key], depth + 1)
        if rng.random() < 0.2 and result:
            del result[rng.choice(list(result))]
        if rng.random() < 0.2:
            result[rng.choice(["number", "destination", "token", "path", "sdp", "\u0000", "__proto__"])] = mutate_json(
                rng, "x", depth + 1
            )
        return result
    odd: list[Any] = [
        None,
        True,
        0,
        -1,
        2**70,
        1e308,
        float("nan"),
        "",
        "\u00e4" * 10,
        "\udcff",
        "\x00",
        [],
        {},
        [value],
        {"a": value},
        "A" * 70_000,
        nested(value, 20),
    ]
    if isinstance(value, str) and choice < 7:
        return mutate(rng, value.encode("utf-8", "surrogateescape"), [value.encode("utf-8", "surrogateescape")]).decode(
            "utf-8", "replace"
        )
    return rng.choice(odd)
