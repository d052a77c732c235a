"""Bencode, the encoding of rtpengine's ng protocol (dictionaries, lists, byte strings, integers).

Pure: `encode` takes str/bytes/int/bool/list/dict (dictionary keys sorted as the format wants,
booleans as "yes"/"no" strings the way rtpengine reads flags); `decode` gives bytes decoded as
UTF-8 text where they are text (SDP, results), and raises BencodeError on anything malformed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Value = Any  # str | bytes | int | list[Value] | dict[str, Value]


class BencodeError(ValueError):
    """Data that is not valid bencode (or a value that cannot be encoded)."""


def encode(value: Value) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Value, out: list[bytes]) -> None:
    if isinstance(value, bool):
        _encode("yes" if value else "no", out)
    elif isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, str):
        _encode(value.encode("utf-8"), out)
    elif isinstance(value, bytes | bytearray):
        out.append(b"%d:" % len(value))
        out.append(bytes(value))
    elif isinstance(value, Mapping):
        out.append(b"d")
        keys = sorted((k.encode("utf-8") if isinstance(k, str) else k, v) for k, v in value.items())
        for key, item in keys:
            _encode(key, out)
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, Sequence):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> Value:
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} bytes after the value")
    return value


MAX_DEPTH = 64


def _decode(data: bytes, pos: int, depth: int) -> tuple[Value, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("nested too deep")
    if pos >= len(data):
        raise BencodeError("truncated")
    lead = data[pos : pos + 1]
    if lead == b"i":
        end = data.find(b"e", pos)
        if end < 0:
            raise BencodeError("unterminated integer")
        text = data[pos + 1 : end]
        if not text or not text.lstrip(b"-").isdigit():
            raise BencodeError(f"bad integer {text!r}")
        return int(text), end + 1
    if lead == b"l":
        items: list[Value] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        result: dict[str, Value] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            key, pos = _decode(data, pos, depth + 1)
            if not isinstance(key, str):
                raise BencodeError("dictionary key is not text")
            result[key], pos = _decode(data, pos, depth + 1)
        return result, pos + 1
    if lead.isdigit():
        colon = data.find(b":", pos)
        if colon < 0 or not data[pos:colon].isdigit():
            raise BencodeError("bad string length")
        size = int(data[pos:colon])
        start = colon + 1
        if start + size > len(data):
            raise BencodeError("truncated string")
        raw = data[start : start + size]
        try:
            return raw.decode("utf-8"), start + size
        except UnicodeDecodeError:
            return raw, start + size
    raise BencodeError(f"unexpected byte {lead!r} at {pos}")
