"""Importer for SIP as text: raw messages, SIPp ``-trace_msg`` logs, and best effort for other
loggers that print whole messages (Asterisk ``pjsip set logger on``, FreeSWITCH siptrace, CUCM
SDL traces).

Banners are recognised only to learn the time, the direction and the addresses; anything else
that is not SIP is skipped and reported in a note.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from guestgate.sip.importers.splitter import Banner, split_messages
from guestgate.sip.ladder import RawMessage

# SIPp: "----------------------------------------------- 2026-11-24 05:40:12.123456"
_SIPP_TIME = re.compile(r"^-{5,}\s+(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)\s*$")
# SIPp: "UDP message sent (545 bytes):" / "UDP message received [345] bytes :"
_SIPP_DIRECTION = re.compile(r"^(UDP|TCP|TLS|SCTP) message (sent|received)\b", re.IGNORECASE)
# Asterisk: "<--- Received SIP request (1187 bytes) from UDP:10.0.0.1:5060 --->"
_ASTERISK = re.compile(r"<--- (Received|Transmitting) SIP (?:request|response) \(\d+ bytes\) "
                       r"(?:from|to) (\w+):(\S+?) --->", re.IGNORECASE)
# FreeSWITCH: "recv 1102 bytes from udp/[10.0.0.1]:5060 at 05:40:12.123456:"
_FREESWITCH = re.compile(r"^(recv|send) \d+ bytes (?:from|to) (\w+)/\[?([^\]\s]+?)\]?:(\d+)"
                         r"(?: at (\d\d):(\d\d):(\d\d(?:\.\d+)?))?", re.IGNORECASE)
# CUCM SDL trace: "00729873.002 |12:44:02.123 |AppInfo  |SIPTcp - wait_SdlReadRsp: Incoming SIP TCP
# message from 10.10.1.1 on port 5060 index 4521 with 1287 bytes:" (UDP: "... from 10.10.1.1:[5060]:").
_CUCM_LINE = re.compile(r"^\d{8}\.\d{3}\s*\|(\d\d):(\d\d):(\d\d(?:\.\d+)?)\s*\|")
_CUCM_MESSAGE = re.compile(r"\b(Incoming|Received|Outgoing|Sent|Sending) SIP (UDP|TCP|TLS) message\b.*?"
                           r"\b(?:from|to) \[?([0-9A-Fa-f:.]+?)\]?(?::\[(\d+)\]| on port (\d+))", re.IGNORECASE)
_CUCM_NET = re.compile(r"^\[\d+,NET\]\s*$")
_SEPARATOR = re.compile(r"^\s*(-{10,}|={10,})\s*$")


def _seconds(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC).timestamp()
    except ValueError:  # a damaged stamp ("25:61:00") leaves the time unknown, not the trace unread
        return None


def text_banner(line: str) -> Banner | None:
    if match := _SIPP_TIME.match(line):
        return Banner(time=_seconds(match.group(1)))
    if match := _SIPP_DIRECTION.match(line):
        return Banner(local=match.group(2).lower() == "sent", transport=match.group(1).lower(),
                      resets_addresses=True)
    if match := _ASTERISK.search(line):
        return Banner(local=match.group(1).lower() == "transmitting",
                      transport=match.group(2).lower(), resets_addresses=True)
    if match := _FREESWITCH.match(line):
        time = None
        if match.group(5):
            time = int(match.group(5)) * 3600 + int(match.group(6)) * 60 + float(match.group(7))
        return Banner(local=match.group(1).lower() == "send", transport=match.group(2).lower(),
                      time=time, resets_addresses=True)
    if match := _CUCM_LINE.match(line):
        # Every SDL line ends the message before it; only the SIP ones say more.
        time = int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))
        found = _CUCM_MESSAGE.search(line)
        if not found:
            return Banner()
        return Banner(time=time, local=found.group(1).lower() in ("outgoing", "sent", "sending"),
                      transport=found.group(2).lower(), resets_addresses=True)
    if _SEPARATOR.match(line) or _CUCM_NET.match(line):
        return Banner()
    return None


def import_text(text: str, label: str) -> tuple[list[RawMessage], list[str]]:
    """Raw SIP text (with or without banners) -> raw messages and notes."""
    return split_messages(text, text_banner, label)
