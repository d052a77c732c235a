"""HEPv3 (the Homer encapsulation protocol, "HEP3"/EEP) decapsulation (pure).

A capture agent (Kamailio/OpenSIPS siptrace, FreeSWITCH, Asterisk res_hep, heplify, sngrep)
copies every SIP message it sees to a collector, usually over UDP port 9060, wrapped in chunks
that carry the original addresses, ports, transport and time. A pcap taken on the collector holds
those datagrams: what matters is inside them, with the original addresses and timestamps.

Packet: ``HEP3``, total length (2 bytes), then chunks: vendor (2), type (2), length (2, with the
6-byte chunk header), payload. Generic types: 1 IP family, 2 IP protocol, 3/4 IPv4 source/
destination, 5/6 IPv6 source/destination, 7/8 ports, 9/10 time (seconds, microseconds), 11
protocol type (1 = SIP), 15 payload, 16 compressed payload (zlib/gzip).
"""

from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass
from typing import Final

MAGIC: Final = b"HEP3"
PROTOCOL_SIP: Final = 1
MAX_PAYLOAD: Final = 1 << 16  # a datagram, and so a HEP packet, holds at most 64 KiB
MAX_INFLATED: Final = 64 << 20  # as much as a trace file may hold
_TRANSPORTS: Final = {17: "udp", 6: "tcp", 132: "sctp"}


class HepError(ValueError):
    """A HEP packet that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class HepPacket:
    """What a HEP packet carried: the original datagram's ends, time and payload."""

    src: str | None
    dst: str | None
    transport: str | None
    time: float | None
    protocol: int | None  # 1 = SIP
    payload: bytes


def is_hep(data: bytes) -> bool:
    return data[:4] == MAGIC


def _address(host: str | None, port: int | None) -> str | None:
    if host is None:
        return None
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Budget:
    """How many bytes compressed payloads may still inflate to, over one whole input: a file of
    small compressed packets must not grow into gigabytes."""

    def __init__(self, limit: int = MAX_INFLATED) -> None:
        self.remaining = limit

    def inflate(self, data: bytes) -> bytes:
        room = min(MAX_PAYLOAD, self.remaining)
        try:  # zlib or gzip header, whichever it has
            inflater = zlib.decompressobj(wbits=47)
            out = inflater.decompress(data, room + 1)
        except zlib.error as error:
            raise HepError(f"a compressed HEP payload does not inflate ({error})") from None
        if len(out) > room:
            raise HepError(f"compressed HEP payloads inflate to more than {MAX_INFLATED // 2**20} MiB in all, "
                           f"or one to more than {MAX_PAYLOAD // 2**10} KiB")
        self.remaining -= len(out)
        return out


def parse_hep(data: bytes, offset: int = 0, budget: Budget | None = None) -> tuple[HepPacket, int]:
    """The HEP packet at ``offset`` of ``data``, and the offset after it. Raises HepError."""
    if len(data) - offset < 6 or data[offset:offset + 4] != MAGIC:
        raise HepError("not a HEPv3 packet (no HEP3 magic)")
    (total,) = struct.unpack_from("!H", data, offset + 4)
    end = offset + total
    if total < 6 or end > len(data):
        raise HepError(f"a HEP packet announces {total} bytes but {len(data) - offset} are there (cut short?)")
    fields: dict[int, bytes] = {}
    at = offset + 6
    while at < end:
        if at + 6 > end:
            raise HepError(f"a HEP chunk header is cut at byte {at - offset}")
        vendor, kind, length = struct.unpack_from("!HHH", data, at)
        if length < 6 or at + length > end:
            raise HepError(f"a HEP chunk (type {kind}) announces {length} bytes past the packet's end")
        if vendor == 0:
            fields.setdefault(kind, data[at + 6:at + length])
        at += length
    return _packet(fields, budget or Budget()), end


def _number(fields: dict[int, bytes], kind: int) -> int | None:
    value = fields.get(kind)
    if value is None or len(value) not in (1, 2, 4):
        return None
    return int.from_bytes(value, "big")


def _packet(fields: dict[int, bytes], budget: Budget) -> HepPacket:
    src_host = dst_host = None
    if len(fields.get(3, b"")) == 4 and len(fields.get(4, b"")) == 4:
        src_host, dst_host = socket.inet_ntop(socket.AF_INET, fields[3]), socket.inet_ntop(socket.AF_INET, fields[4])
    elif len(fields.get(5, b"")) == 16 and len(fields.get(6, b"")) == 16:
        src_host = socket.inet_ntop(socket.AF_INET6, fields[5])
        dst_host = socket.inet_ntop(socket.AF_INET6, fields[6])
    seconds, micros = _number(fields, 9), _number(fields, 10)
    time = seconds + (micros or 0) / 1_000_000 if seconds is not None else None
    payload = fields.get(15)
    if payload is None and 16 in fields:
        payload = budget.inflate(fields[16])
    proto = _number(fields, 2)
    return HepPacket(src=_address(src_host, _number(fields, 7)), dst=_address(dst_host, _number(fields, 8)),
                     transport=_TRANSPORTS.get(proto) if proto is not None else None, time=time,
                     protocol=_number(fields, 11), payload=payload or b"")


def parse_stream(data: bytes, budget: Budget | None = None) -> list[HepPacket]:
    """HEP packets one after the other (a TCP stream to a collector, or a file of them)."""
    budget = budget or Budget()
    packets: list[HepPacket] = []
    offset = 0
    while offset < len(data):
        if not data[offset:offset + 64].strip(b"\r\n\x00") and not data[offset:].strip(b"\r\n\x00"):
            break  # trailing line ends or padding
        packet, offset = parse_hep(data, offset, budget)
        packets.append(packet)
    return packets
