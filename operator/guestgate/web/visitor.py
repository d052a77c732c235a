"""What the visitor reads on the page: call states and end reasons in plain words (pure).

A SIP status or a Q.850 cause means something to an engineer; the visitor needs to know whether
to try again. The raw code still goes along (shown small) so a support call can quote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guestgate.sip.q850 import lookup

STATE_TEXT: dict[str, str] = {
    "idle": "Ready to call",
    "connecting": "Connecting…",
    "ringing": "Ringing…",
    "connected": "Connected",
    "ended": "Call ended",
}

_REASON = re.compile(r"Q\.850\s*;\s*cause\s*=\s*(\d{1,3})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class EndReason:
    key: str  # metrics label: hangup, remote-hangup, busy, no-answer, unavailable, not-found, rejected, failed
    text: str  # for the visitor
    detail: str  # for support: "SIP 486 Busy Here", "Q.850 cause 65"


def q850_cause(reason_header: str | None) -> int | None:
    if not reason_header:
        return None
    match = _REASON.search(reason_header)
    return int(match.group(1)) if match else None


_BY_STATUS: tuple[tuple[range, str, str], ...] = (
    (range(486, 487), "busy", "The line is busy. Please try again in a few minutes."),
    (range(600, 601), "busy", "The line is busy. Please try again in a few minutes."),
    (range(404, 405), "not-found", "This number cannot be reached right now. Please contact us another way."),
    (range(484, 485), "not-found", "This number cannot be reached right now. Please contact us another way."),
    (range(408, 409), "no-answer", "Nobody answered. Please try again later."),
    (range(480, 481), "no-answer", "Nobody answered. Please try again later."),
    (range(487, 488), "hangup", "The call was cancelled."),
    (range(403, 404), "rejected", "The call was not accepted. Please contact us another way."),
    (range(603, 604), "rejected", "The call was declined."),
    (range(500, 600), "unavailable", "We could not connect your call right now. Please try again shortly."),
    (range(400, 500), "failed", "The call could not be connected. Please try again later."),
)

_BY_CAUSE: dict[int, tuple[str, str]] = {
    16: ("remote-hangup", "The other side hung up."),
    17: ("busy", "The line is busy. Please try again in a few minutes."),
    18: ("no-answer", "Nobody answered. Please try again later."),
    19: ("no-answer", "Nobody answered. Please try again later."),
    1: ("not-found", "This number cannot be reached right now. Please contact us another way."),
    21: ("rejected", "The call was not accepted. Please contact us another way."),
    34: ("unavailable", "All lines are busy. Please try again shortly."),
}


def end_reason(status: int, reason_header: str | None = None, *, answered: bool, by_visitor: bool = False) -> EndReason:
    """Why a call ended, from the final SIP status (or the BYE's) and a Reason header's cause."""
    if by_visitor:
        return EndReason("hangup", "You ended the call.", "")
    cause = q850_cause(reason_header)
    if cause is not None:
        known = lookup(cause)
        detail = f"Q.850 cause {cause}" + (f" ({known.name})" if known else "")
        if cause in _BY_CAUSE:
            key, text = _BY_CAUSE[cause]
            return EndReason(key, text, detail)
        # Any other cause (65 above all: a gateway gave up, often on a missing PRACK) is a
        # network problem the visitor cannot fix; say so instead of "the other side hung up".
        text = (
            "The call was dropped by the phone network. This is not a problem with your device; please try again."
            if answered
            else "We could not connect your call right now. Please try again shortly."
        )
        return EndReason("network-dropped" if answered else "unavailable", text, detail)
    if answered or 200 <= status < 300 or status == 0:
        return EndReason("remote-hangup", "The other side hung up.", f"SIP {status}" if status else "")
    for codes, key, text in _BY_STATUS:
        if status in codes:
            return EndReason(key, text, f"SIP {status}")
    return EndReason("failed", "The call could not be connected. Please try again later.", f"SIP {status}")


PAGE_TEXT: dict[str, tuple[str, str]] = {
    # verdict -> (title, what to do)
    "unknown": ("This call link does not exist", "Check the address, or contact us another way."),
    "disabled": ("This call link is switched off", "It has been withdrawn. Please contact us another way."),
    "not-yet-valid": ("This call link is not open yet", "Please come back when the service opens."),
    "expired": ("This call link has expired", "The service it was made for has ended."),
    "token": ("This call link needs a valid invitation", "Ask for a new link: this one is incomplete or expired."),
    "busy": ("Too many calls right now", "Please wait a moment and try again."),
}
