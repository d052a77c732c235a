"""Importer for SIP as text: raw messages (a ticket pasting them among prose, mail quotes),
SIPp ``-trace_msg`` logs, Asterisk ``pjsip set logger on`` (console or ``full`` log), FreeSWITCH
``sofia global siptrace on`` (messages indented between dashed lines), sngrep's ``.txt`` export
and CUCM SDL traces.

Banners are recognised only to learn the time, the direction and the addresses; anything else
that is not SIP is skipped and reported in a note. Auto-detected text is read with every
logger's banners at once; ``--format <logger>`` reads with that logger's banners only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from guestgate.sip.importers.splitter import Banner, BannerReader, split_messages
from guestgate.sip.ladder import RawMessage

# SIPp: "----------------------------------------------- 2026-11-24 05:40:12.123456"
_SIPP_TIME = re.compile(r"^-{5,}\s+(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)\s*$")
# SIPp: "UDP message sent (545 bytes):" / "UDP message received [345] bytes :"
_SIPP_DIRECTION = re.compile(r"^(UDP|TCP|TLS|SCTP) message (sent|received)\b", re.IGNORECASE)
# Asterisk: "<--- Received SIP request (1187 bytes) from UDP:10.0.0.1:5060 --->"
_ASTERISK = re.compile(r"<--- (Received|Transmitting) SIP (?:request|response) \(\d+ bytes\) "
                       r"(?:from|to) (\w+):(\S+?) --->", re.IGNORECASE)
# Asterisk's log stamp before the banner: "[Sep 30 12:44:01]" or "[2026-09-30 12:44:01.123]"
_ASTERISK_DATE = re.compile(r"^\[([A-Za-z]{3})\s+(\d{1,2}) (\d\d:\d\d:\d\d(?:\.\d+)?)\]")
_ASTERISK_ISO = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\]")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# FreeSWITCH: "recv 1102 bytes from udp/[10.0.0.1]:5060 at 05:40:12.123456:" (the remote side;
# newer releases may print a date before the time)
# (sofia-sip's tport_stamp; an IPv6 flow label "/n" and ";comp=sigcomp" may follow the port)
_FREESWITCH = re.compile(
    r"^\s*(?P<verb>recv|send) \d+ bytes (?:from|to) (?P<proto>\w+)/(?:\[(?P<v6>[^\]\s]+)\]|(?P<host>[^\s:/\[\]]+))"
    r":(?P<port>\d+)(?:/\d+)?(?:;comp=\w+)?"
    r"(?: at (?:\d{4}-\d\d-\d\d[ T])?(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?))?", re.IGNORECASE)
# sngrep "save as .txt": "2026/09/30 12:43:26.123456 10.10.1.10:5060 -> 10.10.1.1:5060"
_SNGREP = re.compile(r"^(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) (\S+):(\d+) -> (\S+):(\d+)\s*$")
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


def _address(host: str, port: str) -> str:
    host = host.strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sipp_banner(line: str) -> Banner | None:
    if match := _SIPP_TIME.match(line):
        return Banner(time=_seconds(match.group(1)))
    if match := _SIPP_DIRECTION.match(line):
        return Banner(local=match.group(2).lower() == "sent", transport=match.group(1).lower(),
                      resets_addresses=True)
    return _separator(line)


def _asterisk_time(line: str) -> float | None:
    """The ``full`` log's stamp: ``[Sep 30 12:44:01]`` (the default) or ``[2026-09-30 12:44:01.123]``."""
    if match := _ASTERISK_ISO.match(line):
        return _seconds(match.group(1))
    if (match := _ASTERISK_DATE.match(line)) and match.group(1).lower() in _MONTHS:
        month = _MONTHS.index(match.group(1).lower()) + 1
        return _seconds(f"2000-{month:02d}-{int(match.group(2)):02d} {match.group(3)}")
    return None


def asterisk_banner(line: str) -> Banner | None:
    if match := _ASTERISK.search(line):
        sent = match.group(1).lower() == "transmitting"
        remote = _address(*match.group(3).rsplit(":", 1)) if ":" in match.group(3) else None
        return Banner(local=sent, transport=match.group(2).lower(), resets_addresses=True,
                      src=None if sent else remote, dst=remote if sent else None, time=_asterisk_time(line))
    return None


def freeswitch_banner(line: str) -> Banner | None:
    if match := _FREESWITCH.match(line):
        time = None
        if match["h"]:
            time = int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
        sent = match["verb"].lower() == "send"
        remote = _address(match["v6"] or match["host"], match["port"])
        return Banner(local=sent, transport=match["proto"].lower(), time=time, resets_addresses=True,
                      src=None if sent else remote, dst=remote if sent else None)
    return _separator(line)


def sngrep_banner(line: str) -> Banner | None:
    if match := _SNGREP.match(line):
        stamp = f"{match.group(1)}-{match.group(2)}-{match.group(3)} {match.group(4)}"
        return Banner(time=_seconds(stamp), src=_address(match.group(5), match.group(6)),
                      dst=_address(match.group(7), match.group(8)), resets_addresses=True)
    return None


def _separator(line: str) -> Banner | None:
    return Banner() if _SEPARATOR.match(line) else None


# A header or SDP line ("Via:", "a=rtpmap:0 ...") is never a banner: every banner has a blank
# before its first colon. Checked first, it spares most lines the banner readers.
_HEADER_LIKE = re.compile(r"[!-9;-~]+:")


def text_banner(line: str) -> Banner | None:
    """Every logger's banners at once: what auto-detection reads text with."""
    if _HEADER_LIKE.match(line):
        return None
    for reader in (sipp_banner, asterisk_banner, freeswitch_banner, sngrep_banner):
        if (found := reader(line)) is not None:
            return found
    return cucm_banner(line)


def cucm_banner(line: str) -> Banner | None:
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


# --format name -> the banners that format has; "sip" reads every known banner, like auto.
BANNERS: dict[str, BannerReader] = {
    "sip": text_banner,
    "sipp": sipp_banner,
    "asterisk": lambda line: asterisk_banner(line) or _separator(line),
    "freeswitch": freeswitch_banner,
    "sngrep": sngrep_banner,
    "cucm": cucm_banner,
}


def import_text(text: str, label: str, fmt: str = "sip") -> tuple[list[RawMessage], list[str]]:
    """SIP text (raw, or with the banners of format ``fmt``) -> raw messages and notes."""
    return split_messages(text, BANNERS.get(fmt, text_banner), label)


def text_flavour(text: str) -> str:
    """Which logger wrote a text trace (the format named in notes and JSON), "sip" when none did:
    the logger whose banners open the most lines of the first few thousand."""
    counts = dict.fromkeys(("sipp", "asterisk", "freeswitch", "sngrep", "cucm"), 0)
    readers = {"sipp": _SIPP_DIRECTION.match, "asterisk": _ASTERISK.search, "freeswitch": _FREESWITCH.match,
               "sngrep": _SNGREP.match, "cucm": _CUCM_MESSAGE.search}
    for line in text[:400_000].split("\n", 5000)[:5000]:
        for name, reader in readers.items():
            if reader(line):
                counts[name] += 1
    best = max(counts, key=lambda name: counts[name])
    return best if counts[best] else "sip"
