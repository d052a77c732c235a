"""Importer for Cisco IOS ``debug ccsip messages`` output (CUBE and IOS gateways).

Each message sits below a time-stamped log line and a ``Sent:`` or ``Received:`` line, seen from
the router, so the router is the side that recorded the trace.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from guestgate.sip.importers.splitter import Banner, split_messages
from guestgate.sip.ladder import RawMessage

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# "*Sep 30 12:44:02.123:", "000123: Sep 30 2013 12:44:02.123 UTC:", ".Sep 30 12:44:02:"
_STAMP = re.compile(r"^\s*(?:\d+:\s*)?[*.]?([A-Za-z]{3})\s+(\d{1,2})\s+(?:(\d{4})\s+)?"
                    r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:\s+[A-Z]{2,5})?\s*:(.*)$")
_DIRECTION = re.compile(r"^\s*(Sent|Received)\s*:\s*$", re.IGNORECASE)


def _stamp_seconds(match: re.Match[str]) -> float | None:
    month = match.group(1).lower()
    if month not in _MONTHS:
        return None
    # IOS usually omits the year; any fixed year keeps differences right.
    year = int(match.group(3)) if match.group(3) else 2000
    fraction = float(f"0.{match.group(7)}") if match.group(7) else 0.0
    try:
        moment = datetime(year, _MONTHS.index(month) + 1, int(match.group(2)), int(match.group(4)),
                          int(match.group(5)), int(match.group(6)), tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp() + fraction


def ios_banner(line: str) -> Banner | None:
    if match := _STAMP.match(line):
        time = _stamp_seconds(match)
        if time is not None:
            rest = _DIRECTION.match(match.group(8))  # "*Sep 30 12:44:02.123: Received:"
            local = rest.group(1).lower() == "sent" if rest else None
            return Banner(time=time, local=local)
    if match := _DIRECTION.match(line):
        return Banner(local=match.group(1).lower() == "sent")
    return None


def looks_like_ios(text: str) -> bool:
    """True when the text has IOS time stamps and Sent:/Received: lines."""
    head = text[:200_000].replace("\r\n", "\n").split("\n")
    has_direction = any(_DIRECTION.match(line) or (
        (m := _STAMP.match(line)) and _DIRECTION.match(m.group(8))) for line in head)
    has_stamp = any(_STAMP.match(line) for line in head)
    return bool(has_direction and has_stamp)


def import_ios(text: str, label: str) -> tuple[list[RawMessage], list[str]]:
    return split_messages(text, ios_banner, label)
