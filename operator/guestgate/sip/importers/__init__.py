"""Read trace files into ladders: the one place of the SIP side that touches files.

``load_file(path, fmt)`` picks the importer (by content when ``fmt`` is "auto"), builds the
ladders and returns them with notes on what could not be read. Every reason to give up is an
``InputError`` whose message says what is wrong with which file, for the command to print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from guestgate.sip.importers.hep import HepError, is_hep
from guestgate.sip.importers.ios import import_ios, looks_like_ios
from guestgate.sip.importers.splitter import TruncatedInput
from guestgate.sip.importers.text import BANNERS, import_text, text_flavour
from guestgate.sip.importers.tshark import (
    TsharkError,
    import_tshark_json,
    import_tshark_text,
    looks_like_tshark,
    looks_like_tshark_json,
)
from guestgate.sip.ladder import Ladder, RawMessage, build_ladders, parse_raw

# --format names. Text: sip (raw SIP, and every logger banner below at once), sipp (-trace_msg),
# ios (CUBE `debug ccsip messages`), cucm (SDL trace), asterisk (`pjsip set logger on`),
# freeswitch (`sofia global siptrace on`), sngrep (its .txt export), tshark (`-V` or `-O sip`).
# Binary or structured: pcap (pcap/pcapng, HEP inside decapsulated), hep (HEPv3 packets one after
# the other), tshark-json (`tshark -T json`).
FORMATS: Final = ("auto", "sip", "sipp", "ios", "cucm", "asterisk", "freeswitch", "sngrep", "tshark",
                  "tshark-json", "hep", "pcap")
MAX_BYTES: Final = 64 * 1024 * 1024  # a day of busy trunk traces is far below this


class InputError(Exception):
    """The input cannot be turned into a ladder; the message is for the user."""


@dataclass(frozen=True, slots=True)
class Imported:
    ladders: list[Ladder]
    notes: list[str]
    format: str


def detect_format(data: bytes) -> str:
    """The format of a trace, from its content: what ``--format auto`` reads it as."""
    if _is_capture(data):
        return "pcap"
    if is_hep(data):
        return "hep"
    if looks_like_tshark_json(data):
        return "tshark-json"
    text = data[:400_000].decode("utf-8", errors="replace")
    if looks_like_tshark(text):
        return "tshark"
    if looks_like_ios(text):
        return "ios"
    return text_flavour(text)


_PRINTABLE = bytes([9, 10, 13, *range(32, 127), *range(128, 256)])


_ANSI: Final = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _is_capture(data: bytes) -> bool:
    from guestgate.sip.importers.pcap import is_capture  # dpkt only when a capture is read

    return is_capture(data)


def _decode_text(data: bytes, label: str) -> str:
    sample = data[:65536]
    # Text traces never hold NUL bytes, and are mostly printable: anything else is binary.
    printable = len(sample) - len(sample.translate(None, _PRINTABLE))  # in C: a byte loop in Python cost ms
    if b"\x00" in sample or (sample and printable / len(sample) < 0.9):
        raise InputError(f"{label}: this is binary data, not a SIP trace or a pcap/pcapng capture")
    return data.decode("utf-8", errors="replace")


def import_bytes(data: bytes, label: str, fmt: str = "auto") -> Imported:
    """Bytes of a trace -> ladders. Raises InputError."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if len(data) > MAX_BYTES:
        raise InputError(f"{label}: {len(data)} bytes is more than the {MAX_BYTES // 2**20} MiB a trace "
                         "may have; cut it down to the calls you want diagnosed")
    if not data.strip():
        raise InputError(f"{label}: empty, nothing to diagnose")
    if b"\x1b[" in data and not is_hep(data) and not _is_capture(data):
        data = _ANSI.sub(b"", data)  # a console's colours (fs_cli, asterisk -r) around the lines
    chosen = detect_format(data) if fmt == "auto" else fmt
    notes: list[str] = []
    raw: list[RawMessage]
    try:
        if chosen == "pcap":
            return _import_capture(data, label)
        if chosen == "hep":
            raw, notes = _import_hep(data, label)
        elif chosen == "tshark-json":
            raw, notes = import_tshark_json(data, label)
        else:
            text = _decode_text(data, label)
            if chosen == "tshark":
                raw, notes = import_tshark_text(text, label)
            elif chosen == "ios":
                raw, notes = import_ios(text, label)
            else:
                # Detected text is read with every banner (a ticket may paste several loggers'
                # output); a format given by name is read with its own banners only.
                raw, notes = import_text(text, label, chosen if fmt != "auto" and chosen in BANNERS else "sip")
    except (TruncatedInput, TsharkError) as error:
        raise InputError(str(error)) from None
    return _finish(raw, notes, label, chosen)


def _import_hep(data: bytes, label: str) -> tuple[list[RawMessage], list[str]]:
    """A file of HEPv3 packets one after the other (what a collector or `nc -u -l 9060` saved)."""
    from guestgate.sip.importers.hep import PROTOCOL_SIP, parse_stream

    if not is_hep(data):
        raise InputError(f"{label}: not HEPv3 packets (no HEP3 magic at the start)")
    try:
        packets = parse_stream(data)
    except HepError as error:
        raise InputError(f"{label}: {error}") from None
    raw = [RawMessage(text=p.payload.decode("utf-8", errors="replace"), time=p.time, src=p.src, dst=p.dst,
                      transport=p.transport, where=f"{label} HEP packet {n}")
           for n, p in enumerate(packets, start=1) if p.protocol in (PROTOCOL_SIP, None)]
    other = len(packets) - len(raw)
    return raw, [f"{label}: {other} HEP packet(s) carrying no SIP were skipped"] if other else []


def _import_capture(data: bytes, label: str) -> Imported:
    # dpkt is imported only here, so diagnosing text never pays for it.
    from guestgate.sip.importers.pcap import CaptureError, import_pcap, is_capture, media_for

    if not is_capture(data):
        raise InputError(f"{label}: not a pcap or pcapng capture (no capture magic number)")
    try:
        result = import_pcap(data, label)
    except CaptureError as error:
        raise InputError(str(error)) from None
    imported = _finish(result.messages, result.notes, label, "pcap")
    ladders = [replace(ladder, media=media_for(ladder, result.datagrams) or ladder.media)
               for ladder in imported.ladders]
    if not any(d.is_rtp for d in result.datagrams):
        imported.notes.append(f"{label}: no RTP in the capture (filtered to SIP?): media not judged")
    return Imported(ladders=ladders, notes=imported.notes, format="pcap")


def _finish(raw: list[RawMessage], notes: list[str], label: str, chosen: str) -> Imported:
    ladders = build_ladders(raw, label, notes)
    if not ladders:
        unreadable = parse_raw(raw)[1]
        what = "packet" if chosen == "pcap" else "start line"
        if unreadable:  # start lines were there but no message was readable: say why
            raise InputError(f"{label}: no readable SIP message (read as {chosen}): " + "; ".join(unreadable[:3]))
        raise InputError(f"{label}: no SIP message found (read as {chosen}; no SIP {what} such as "
                         "'INVITE sip:... SIP/2.0' or 'SIP/2.0 200 OK')")
    all_notes = list(dict.fromkeys([*notes, *(n for ladder in ladders for n in ladder.notes)]))
    return Imported(ladders=ladders, notes=all_notes, format=chosen)


def load_file(path: str | Path, fmt: str = "auto") -> Imported:
    """Read and import one file. Raises InputError with a message naming the file."""
    label = str(path)
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{label}: {size} bytes is more than the {MAX_BYTES // 2**20} MiB a trace "
                             "may have; cut it down to the calls you want diagnosed")
        data = file.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not a trace file") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied") from None
    except OSError as error:
        raise InputError(f"{label}: cannot be read ({error.strerror or error})") from None
    return import_bytes(data, label, fmt)
