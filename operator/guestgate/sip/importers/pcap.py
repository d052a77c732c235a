"""Importer for pcap and pcapng captures, decoded with dpkt (a well-kept library, not ours).

SIP is taken from UDP datagrams (IPv4 fragments reassembled) and from reassembled TCP streams
(messages cut by Content-Length). Other UDP datagrams are kept as candidate RTP; once the SDP of
a call is known, ``media_for`` counts the ones sent to each side's announced address.
"""

from __future__ import annotations

import bisect
import io
import struct
from dataclasses import dataclass, field
from typing import Any

import dpkt

from guestgate.sip.importers.hep import PROTOCOL_SIP, Budget, HepError, is_hep, parse_hep, parse_stream
from guestgate.sip.ladder import Ladder, MediaFacts, RawMessage
from guestgate.sip.message import is_start_line


class CaptureError(ValueError):
    """The capture cannot be read (not a capture, truncated, unknown link type)."""


PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


def is_capture(data: bytes) -> bool:
    return data[:4] == PCAPNG_MAGIC or data[:4] in PCAP_MAGICS


@dataclass(frozen=True, slots=True)
class Datagram:
    """A UDP datagram that is not SIP: maybe RTP."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    is_rtp: bool


@dataclass(slots=True)
class PcapImport:
    messages: list[RawMessage] = field(default_factory=list)
    datagrams: list[Datagram] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Fragments:
    """The pieces of one fragmented IPv4 datagram (a large INVITE with video SDP is often one)."""

    time: float
    parts: dict[int, bytes] = field(default_factory=dict)  # byte offset -> payload
    total: int | None = None  # known once the last fragment (MF clear) arrives


def _whole_segment(packet: Any, ts: float, pending: dict[tuple[bytes, bytes, int, int], _Fragments]) \
        -> tuple[Any, float] | None:
    """The transport segment of a packet and its time, reassembling IPv4 fragments; None while
    pieces are missing. dpkt leaves fragments undecoded, so the whole is decoded here."""
    if not isinstance(packet, dpkt.ip.IP) or (not packet.mf and not packet.offset):
        return packet.data, ts
    key = (packet.src, packet.dst, packet.id, packet.p)
    entry = pending.setdefault(key, _Fragments(time=ts))
    offset = packet.offset * 8
    entry.parts[offset] = bytes(packet.data)
    if not packet.mf:
        entry.total = offset + len(entry.parts[offset])
    if entry.total is None:
        return None
    whole = bytearray()
    for start in sorted(entry.parts):
        if start > len(whole):
            return None  # a hole: wait for the missing piece
        whole[start:] = entry.parts[start]
    if len(whole) < entry.total:
        return None
    del pending[key]
    if packet.p == dpkt.ip.IP_PROTO_UDP:
        return dpkt.udp.UDP(bytes(whole)), entry.time
    if packet.p == dpkt.ip.IP_PROTO_TCP:
        return dpkt.tcp.TCP(bytes(whole)), entry.time
    return bytes(whole), entry.time


@dataclass(slots=True)
class _Flow:
    """One direction of a TCP connection: segments by sequence number."""

    segments: dict[int, tuple[float, bytes]] = field(default_factory=dict)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_classic_pcap(data: bytes, label: str) -> None:
    """dpkt yields a short last packet silently; walk the record headers to catch truncation."""
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    offset, number = 24, 0
    if len(data) < 24:
        raise CaptureError(f"{label}: the capture is truncated inside its file header")
    while offset < len(data):
        if offset + 16 > len(data):
            raise CaptureError(f"{label}: the capture is truncated after packet {number}")
        (caplen,) = struct.unpack_from(order + "I", data, offset + 8)
        offset += 16 + caplen
        number += 1
        if offset > len(data):
            raise CaptureError(f"{label}: the capture is truncated inside packet {number}")


def _reader(data: bytes, label: str) -> Any:
    try:
        if data[:4] == PCAPNG_MAGIC:
            return dpkt.pcapng.Reader(io.BytesIO(data))
        _check_classic_pcap(data, label)
        return dpkt.pcap.Reader(io.BytesIO(data))
    except (dpkt.dpkt.UnpackError, ValueError, struct.error) as error:
        if isinstance(error, CaptureError):
            raise
        raise CaptureError(f"{label}: not a readable capture ({error})") from None


def _network_layer(linktype: int, buf: bytes) -> Any:
    """The IP packet inside a link-layer frame, or None."""
    if linktype == dpkt.pcap.DLT_EN10MB:
        return dpkt.ethernet.Ethernet(buf).data
    if linktype == dpkt.pcap.DLT_LINUX_SLL:
        return dpkt.sll.SLL(buf).data
    if linktype == 276:  # LINUX_SLL2, what "tcpdump -i any" writes nowadays
        return dpkt.sll2.SLL2(buf).data
    if linktype in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return dpkt.loopback.Loopback(buf).data
    if linktype in (dpkt.pcap.DLT_RAW, 12, 14, 101, 228, 229):
        return dpkt.ip6.IP6(buf) if buf[:1] and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)
    raise CaptureError(f"link type {linktype} is not supported (Ethernet, Linux cooked, loopback, raw IP)")


def _host(packet: Any) -> tuple[str, str]:
    import socket

    family = socket.AF_INET6 if isinstance(packet, dpkt.ip6.IP6) else socket.AF_INET
    return socket.inet_ntop(family, packet.src), socket.inet_ntop(family, packet.dst)


def _is_sip(payload: bytes) -> bool:
    first = payload[:200].split(b"\n", 1)[0].decode("latin-1").strip()
    return is_start_line(first)


def _is_rtp(payload: bytes) -> bool:
    # RTP version 2, and not RTCP (payload types 72-76 with the marker bit are RTCP, RFC 5761).
    return len(payload) >= 12 and payload[0] >> 6 == 2 and not 72 <= (payload[1] & 0x7F) <= 76


def import_pcap(data: bytes, label: str) -> PcapImport:
    reader = _reader(data, label)
    result = PcapImport()
    timed: list[tuple[float, RawMessage]] = []
    flows: dict[tuple[str, int, str, int], _Flow] = {}
    fragments: dict[tuple[bytes, bytes, int, int], _Fragments] = {}
    undecoded = 0
    hep = _HepCount()
    try:
        linktype = reader.datalink()
        for number, (ts, buf) in enumerate(reader, start=1):
            try:
                packet = _network_layer(linktype, buf)
            except (dpkt.dpkt.UnpackError, struct.error, IndexError):
                undecoded += 1
                continue
            if not isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6):
                continue
            src_host, dst_host = _host(packet)
            whole = _whole_segment(packet, float(ts), fragments)
            if whole is None:
                continue
            segment, ts = whole
            if isinstance(segment, dpkt.udp.UDP):
                payload = bytes(segment.data)
                src, dst = (src_host, segment.sport), (dst_host, segment.dport)
                if is_hep(payload):
                    timed.extend(_hep_messages(payload, f"{label} packet {number}", hep))
                elif _is_sip(payload):
                    timed.append((float(ts), RawMessage(
                        text=payload.decode("utf-8", errors="replace"), time=float(ts),
                        src=_address(*src), dst=_address(*dst), transport="udp",
                        where=f"{label} packet {number}")))
                else:
                    result.datagrams.append(Datagram(float(ts), src, dst, _is_rtp(payload)))
            elif isinstance(segment, dpkt.tcp.TCP) and segment.data:
                key = (src_host, segment.sport, dst_host, segment.dport)
                flows.setdefault(key, _Flow()).segments.setdefault(
                    segment.seq, (float(ts), bytes(segment.data)))
    except CaptureError as error:
        raise CaptureError(f"{label}: {error}") from None
    except (dpkt.dpkt.UnpackError, struct.error, ValueError) as error:
        raise CaptureError(f"{label}: the capture is truncated or damaged ({error})") from None
    if undecoded:
        result.notes.append(f"{label}: {undecoded} packet(s) could not be decoded and were skipped")
    if fragments:
        result.notes.append(f"{label}: {len(fragments)} fragmented IP datagram(s) miss pieces and were skipped")
    for key, flow in flows.items():
        timed.extend(_tcp_messages(key, flow, label, result.notes, hep))
    result.notes.extend(hep.notes(label))
    timed.sort(key=lambda pair: pair[0])
    result.messages = [message for _, message in timed]
    return result


@dataclass(slots=True)
class _HepCount:
    """HEP datagrams met in a capture: SIP taken out of them, others and broken ones counted."""

    sip: int = 0
    other: int = 0
    broken: int = 0
    first_error: str = ""
    budget: Budget = field(default_factory=Budget)

    def notes(self, label: str) -> list[str]:
        notes = []
        if self.sip:
            notes.append(f"{label}: {self.sip} SIP message(s) taken out of HEP packets, with the addresses "
                         "and times the capture agent recorded")
        if self.other:
            notes.append(f"{label}: {self.other} HEP packet(s) carrying no SIP (RTCP, logs) were skipped")
        if self.broken:
            notes.append(f"{label}: {self.broken} HEP packet(s) could not be read and were skipped "
                         f"({self.first_error})")
        return notes


def _hep_messages(data: bytes, where: str, count: _HepCount, stream: bool = False) -> list[tuple[float, RawMessage]]:
    """SIP messages inside HEP packets (one datagram, or a TCP stream of them)."""
    try:
        packets = parse_stream(data, count.budget) if stream else [parse_hep(data, 0, count.budget)[0]]
    except HepError as error:
        count.broken += 1
        count.first_error = count.first_error or str(error)
        return []
    found: list[tuple[float, RawMessage]] = []
    for packet in packets:
        if packet.protocol not in (PROTOCOL_SIP, None) or not _is_sip(packet.payload):
            count.other += 1
            continue
        count.sip += 1
        time = packet.time if packet.time is not None else 0.0
        found.append((time, RawMessage(text=packet.payload.decode("utf-8", errors="replace"), time=packet.time,
                                       src=packet.src, dst=packet.dst, transport=packet.transport,
                                       where=f"{where} (HEP)")))
    return found


def _tcp_messages(key: tuple[str, int, str, int], flow: _Flow, label: str,
                  notes: list[str], hep: _HepCount) -> list[tuple[float, RawMessage]]:
    """Reassemble one TCP direction and cut it into SIP messages by Content-Length."""
    stream = bytearray()
    times: list[tuple[int, float]] = []  # (offset in stream, time of the segment starting there)
    next_seq: int | None = None
    for seq in sorted(flow.segments):
        ts, payload = flow.segments[seq]
        if next_seq is not None and seq < next_seq:
            payload = payload[next_seq - seq:]  # a retransmission overlapping what we have
            seq = next_seq
        if next_seq is not None and seq > next_seq:
            notes.append(f"{label}: {seq - next_seq} byte(s) missing in a TCP stream; messages may be lost")
        if payload:
            times.append((len(stream), ts))
            stream.extend(payload)
            next_seq = seq + len(payload)
    src, dst = _address(key[0], key[1]), _address(key[2], key[3])
    if is_hep(bytes(stream[:4])):  # a capture agent's TCP connection to its collector
        return _hep_messages(bytes(stream), f"{label} tcp {src}->{dst}", hep, stream=True)
    starts = [start for start, _ in times]
    found: list[tuple[float, RawMessage]] = []
    offset = 0
    while offset < len(stream):
        while stream[offset:offset + 2] in (b"\r\n",) or stream[offset:offset + 1] == b"\n":
            offset += 1  # CRLF keep-alives (RFC 5626) between messages
        if offset >= len(stream):
            break
        end_of_headers = stream.find(b"\r\n\r\n", offset)
        if end_of_headers < 0 or not _is_sip(bytes(stream[offset:offset + 200])):
            notes.append(f"{label}: {len(stream) - offset} byte(s) of a TCP stream {src} -> {dst} "
                         "are not a complete SIP message and were skipped")
            break
        head = bytes(stream[offset:end_of_headers]).decode("utf-8", errors="replace")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() in ("content-length", "l") and value.strip().isdigit():
                length = int(value.strip())
        end = end_of_headers + 4 + length
        if end > len(stream):
            notes.append(f"{label}: a SIP message over TCP {src} -> {dst} is cut short by the end "
                         "of the capture and was skipped")
            break
        # the time of the segment holding the message's first byte
        ts = times[max(bisect.bisect_right(starts, offset) - 1, 0)][1]
        found.append((ts, RawMessage(text=bytes(stream[offset:end]).decode("utf-8", errors="replace"),
                                     time=ts, src=src, dst=dst, transport="tcp",
                                     where=f"{label} tcp {src}->{dst} byte {offset}")))
        offset = end
    return found


def media_for(ladder: Ladder, datagrams: list[Datagram]) -> MediaFacts | None:
    """Count RTP to each side's SDP-announced audio address; None when the capture has no RTP.

    A capture filtered to the SIP port has no RTP at all; saying "no media" then would be a lie,
    so media stays unknown.
    """
    if not any(d.is_rtp for d in datagrams):
        return None
    announced: dict[str, tuple[str, int]] = {}
    answer_time: float | None = None
    for item in ladder.messages:
        message = item.message
        audio = message.sdp.audio if message.sdp else None
        if audio and audio.address and audio.port:
            announced.setdefault(item.sender, (audio.address, audio.port))
        if answer_time is None and message.cseq_method == "INVITE" and message.status \
                and 200 <= message.status < 300 and item.time is not None:
            answer_time = item.time
    if not announced:
        return None

    def count(to_role: str, before: float | None = None) -> int | None:
        if to_role not in announced:
            return None
        target = announced[to_role]
        return sum(1 for d in datagrams if d.is_rtp and d.dst == target
                   and (before is None or d.time < before))

    early = count("caller", answer_time) if answer_time is not None else count("caller")
    return MediaFacts(from_caller=count("callee"), from_callee=count("caller"),
                      early_from_callee=early, source="pcap")
