"""Importers for Wireshark's text and JSON output (pure): ``tshark -V`` (every layer's tree),
``tshark -O sip`` (only SIP as a tree, the layers below as one line each) and ``tshark -T json``.

Text: a frame starts at ``Frame N:``; its time comes from ``Epoch Time:`` / ``Epoch Arrival Time:``
(``-V`` only), its addresses from the one-line IP and UDP/TCP summaries. Each ``Session
Initiation Protocol`` tree holds the start line (``Request-Line:`` / ``Status-Line:``), the
headers as sent (one level under ``Message Header``; deeper lines are Wireshark's dissection of
them) and, under ``Message Body``, the SDP as ``Label (x): value`` lines that become ``x=value``.

JSON: ``sip.msg_hdr`` holds the headers as sent (and, in Wireshark 4, the body after them); an
SDP body not in it is rebuilt from the ``sdp`` fields.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from guestgate.sip.ladder import RawMessage

_FRAME: Final = re.compile(r"^Frame (\d+):")
_EPOCH: Final = re.compile(r"^\s+Epoch (?:Arrival )?Time:\s+(\d+(?:\.\d+)?)")
_IP: Final = re.compile(r"^Internet Protocol Version [46], Src: (\S+), Dst: (\S+?)\s*$")
_PORTS: Final = re.compile(r"^(User Datagram|Transmission Control) Protocol, Src Port: (\d+), Dst Port: (\d+)")
_SIP: Final = re.compile(r"^Session Initiation Protocol\b")
_START: Final = re.compile(r"^(?:Request|Status)-Line: (.*)$")
_SDP_FIELD: Final = re.compile(r"\(([a-z])\): ?(.*)$")
_TRUNCATED: Final = "[truncated]"
MAX_MESSAGES: Final = 20_000


class TsharkError(ValueError):
    """The JSON is not a tshark export; the message says why."""


def looks_like_tshark(text: str) -> bool:
    """A SIP tree at the top level with a start line under it."""
    head = text[:400_000]
    return bool(re.search(r"^Session Initiation Protocol\b", head, re.M)) and bool(
        re.search(r"^\s+(?:Request|Status)-Line: ", head, re.M))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _address(host: str, port: str | None) -> str | None:
    if port is None:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Frame:
    """What the lines of one frame said before its SIP trees."""

    def __init__(self, number: str) -> None:
        self.number = number
        self.time: float | None = None
        self.hosts: tuple[str, str] | None = None
        self.ports: tuple[str, str] | None = None
        self.transport: str | None = None

    def ends(self) -> tuple[str | None, str | None]:
        if self.hosts is None or self.ports is None:
            return None, None
        return _address(self.hosts[0], self.ports[0]), _address(self.hosts[1], self.ports[1])


def _sip_tree(lines: list[str], i: int) -> tuple[str | None, list[str], list[str], int]:
    """The start line, header lines and body lines of the SIP tree opening at ``lines[i]``, and
    the index after it."""
    start: str | None = None
    headers: list[str] = []
    body: list[str] = []
    section = ""
    section_indent = header_indent = field_indent = -1
    i += 1
    while i < len(lines) and lines[i].strip() and _indent(lines[i]) > 0:
        line = lines[i]
        depth, text = _indent(line), line.strip()
        i += 1
        if section_indent < 0 or depth == section_indent:
            section_indent = depth
            if match := _START.match(text):
                start, section = match.group(1), "start"
            elif text == "Message Header":
                section, header_indent = "headers", -1
            elif text == "Message Body":
                section, field_indent = "body", -1
            else:
                section = ""
            continue
        if depth < section_indent:
            continue
        if section == "headers":
            if header_indent < 0:
                header_indent = depth
            if depth == header_indent and not text.startswith("["):
                headers.append(text.removeprefix(_TRUNCATED))
        elif section == "body":
            if text.startswith("Session Description Protocol") and not text.startswith(
                    "Session Description Protocol Version"):
                continue
            if field_indent < 0:
                field_indent = depth
            if depth == field_indent and (match := _SDP_FIELD.search(text)):
                body.append(f"{match.group(1)}={match.group(2)}")
    return start, headers, body, i


def _message(start: str, headers: list[str], body: list[str]) -> str:
    text_body = "".join(f"{line}\r\n" for line in body)
    return "\r\n".join([start, *headers]) + "\r\n\r\n" + text_body


def import_tshark_text(text: str, label: str) -> tuple[list[RawMessage], list[str]]:
    """``tshark -V`` or ``tshark -O sip`` output -> raw messages and notes."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    messages: list[RawMessage] = []
    notes: list[str] = []
    frame = _Frame("?")
    empty = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if match := _FRAME.match(line):
            frame = _Frame(match.group(1))
        elif match := _EPOCH.match(line):
            frame.time = float(match.group(1))
        elif match := _IP.match(line):
            frame.hosts = (match.group(1), match.group(2))
        elif match := _PORTS.match(line):
            frame.ports = (match.group(2), match.group(3))
            frame.transport = "udp" if match.group(1).startswith("User") else "tcp"
        elif _SIP.match(line):
            start, headers, body, i = _sip_tree(lines, i)
            if start is None:
                empty += 1
                continue
            src, dst = frame.ends()
            messages.append(RawMessage(text=_message(start, headers, body), time=frame.time, src=src, dst=dst,
                                       transport=frame.transport, where=f"{label} frame {frame.number}"))
            if len(messages) > MAX_MESSAGES:
                raise TsharkError(f"{label}: more than {MAX_MESSAGES} SIP messages; split the trace per call "
                                  "before diagnosing it")
            continue
        i += 1
    if empty:
        notes.append(f"{label}: {empty} SIP tree(s) without a Request-Line or Status-Line were skipped")
    return messages, notes


# --- tshark -T json -----------------------------------------------------------------------------

_SDP_KEYS: Final = {"sdp.version": "v", "sdp.owner": "o", "sdp.session_name": "s", "sdp.session_info": "i",
                    "sdp.uri": "u", "sdp.connection_info": "c", "sdp.bandwidth": "b", "sdp.time": "t",
                    "sdp.repeat_time": "r", "sdp.timezone": "z", "sdp.encryption_key": "k",
                    "sdp.session_attr": "a", "sdp.media": "m", "sdp.media_attr": "a", "sdp.media.title": "i"}


def looks_like_tshark_json(data: bytes) -> bool:
    head = data[:4096].lstrip()
    return head[:1] == b"[" and b'"_source"' in head and b'"layers"' in head


Pairs = list[tuple[str, Any]]


def _is_object(node: Any) -> bool:
    return isinstance(node, list) and all(isinstance(p, tuple) for p in node)


def _pairs(node: Any) -> Pairs:
    """A JSON object kept as its (key, value) pairs: tshark repeats keys (every ``sdp.media_attr``)."""
    return node if _is_object(node) else []


def _all(node: Any, key: str) -> list[Any]:
    """Every value of ``key``: repeated keys, or one key holding an array (``--no-duplicate-keys``)."""
    found: list[Any] = []
    for name, value in _pairs(node):
        if name == key:
            found.extend(value if isinstance(value, list) and value and not _is_object(value) else [value])
    return found


def _first(node: Any, key: str) -> Any:
    found = _all(node, key)
    return found[0] if found else None


def _sdp_lines(node: Any) -> list[str]:
    """SDP lines from tshark's ``sdp`` object, in the order tshark lists them."""
    lines: list[str] = []
    for name, value in _pairs(node):
        values = value if isinstance(value, list) and not _is_object(value) else [value]
        lines.extend(f"{_SDP_KEYS[name]}={item}" for item in values if name in _SDP_KEYS and isinstance(item, str))
    return lines


def _json_message(sip: Any) -> str | None:
    start = _first(sip, "sip.Request-Line") or _first(sip, "sip.Status-Line")
    raw = _first(sip, "sip.msg_hdr")
    if not isinstance(start, str) or not isinstance(raw, str):
        return None
    head, separator, body = raw.replace("\r\n", "\n").partition("\n\n")
    if not (separator and body.strip()):
        body = "\n".join(_sdp_lines(_first(_first(sip, "sip.msg_body"), "sdp")))
    return "\r\n".join([start, *head.rstrip("\n").split("\n")]) + "\r\n\r\n" + body.replace("\n", "\r\n")


def _layer_value(layers: Any, names: tuple[str, ...], key: str) -> str | None:
    for name in names:
        value = _first(_first(layers, name), key)
        if isinstance(value, str):
            return value
    return None


def import_tshark_json(data: bytes, label: str) -> tuple[list[RawMessage], list[str]]:
    """``tshark -T json`` output -> raw messages and notes. Raises TsharkError when it is not one."""
    try:
        packets = json.loads(data.decode("utf-8", errors="replace"), object_pairs_hook=list)
    except (json.JSONDecodeError, RecursionError) as error:
        where = f" at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise TsharkError(f"{label}: not readable as tshark JSON{where} (cut short?)") from None
    if not isinstance(packets, list) or (_is_object(packets) and packets) or any(not _is_object(p) for p in packets):
        raise TsharkError(f"{label}: not a tshark -T json export (a list of packets with _source.layers)")
    messages: list[RawMessage] = []
    skipped = 0
    for number, packet in enumerate(packets, start=1):
        layers = _first(_first(packet, "_source"), "layers")
        time_text = _layer_value(layers, ("frame",), "frame.time_epoch")
        try:
            time = float(time_text) if time_text else None
        except ValueError:
            time = None
        hosts = (_layer_value(layers, ("ip", "ipv6"), "ip.src") or _layer_value(layers, ("ipv6",), "ipv6.src"),
                 _layer_value(layers, ("ip", "ipv6"), "ip.dst") or _layer_value(layers, ("ipv6",), "ipv6.dst"))
        transport = "udp" if _first(layers, "udp") is not None else "tcp" if _first(layers, "tcp") is not None \
            else None
        ports = (_layer_value(layers, ("udp", "tcp"), f"{transport}.srcport"),
                 _layer_value(layers, ("udp", "tcp"), f"{transport}.dstport")) if transport else (None, None)
        src = _address(hosts[0], ports[0]) if hosts[0] else None
        dst = _address(hosts[1], ports[1]) if hosts[1] else None
        for sip in _all(layers, "sip"):
            text = _json_message(sip)
            if text is None:
                skipped += 1
                continue
            messages.append(RawMessage(text=text, time=time, src=src, dst=dst, transport=transport,
                                       where=f"{label} packet {number}"))
        if len(messages) > MAX_MESSAGES:
            raise TsharkError(f"{label}: more than {MAX_MESSAGES} SIP messages; split the trace per call "
                              "before diagnosing it")
    notes = [f"{label}: {skipped} SIP layer(s) without start line or sip.msg_hdr were skipped"] if skipped else []
    return messages, notes
