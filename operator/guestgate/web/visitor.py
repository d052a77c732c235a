"""What the visitor reads on the page: call states and end reasons in plain words (pure).

A SIP status or a Q.850 cause means something to an engineer; the visitor needs to know whether
to try again. The raw code still goes along (shown small) so a support call can quote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guestgate.sip.q850 import lookup
from guestgate.web.i18n import DEFAULT_LANGUAGE, text

STATE_TEXT: dict[str, str] = {
    state: text(DEFAULT_LANGUAGE, f"state.{state}") for state in ("idle", "connecting", "ringing", "connected", "ended")
}

_REASON = re.compile(r"Q\.850\s*;\s*cause\s*=\s*(\d{1,3})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class EndReason:
    key: str  # metrics label: hangup, remote-hangup, busy, no-answer, unavailable, not-found, rejected, failed
    message: str  # catalogue key of the visitor's text (end.busy, ...): the page shows it in its language
    detail: str  # for support: "SIP 486 Busy Here", "Q.850 cause 65"

    @property
    def text(self) -> str:
        """The visitor's text in English (logs, clients that do not translate)."""
        return text(DEFAULT_LANGUAGE, self.message)


def q850_cause(reason_header: str | None) -> int | None:
    if not reason_header:
        return None
    match = _REASON.search(reason_header)
    return int(match.group(1)) if match else None


_BY_STATUS: tuple[tuple[range, str, str], ...] = (
    (range(486, 487), "busy", "end.busy"),
    (range(600, 601), "busy", "end.busy"),
    (range(404, 405), "not-found", "end.not-found"),
    (range(484, 485), "not-found", "end.not-found"),
    (range(408, 409), "no-answer", "end.no-answer"),
    (range(480, 481), "no-answer", "end.no-answer"),
    (range(487, 488), "hangup", "end.cancelled"),
    (range(403, 404), "rejected", "end.not-accepted"),
    (range(603, 604), "rejected", "end.declined"),
    (range(500, 600), "unavailable", "end.unavailable"),
    (range(400, 500), "failed", "end.failed"),
)

_BY_CAUSE: dict[int, tuple[str, str]] = {
    16: ("remote-hangup", "end.remote-hangup"),
    17: ("busy", "end.busy"),
    18: ("no-answer", "end.no-answer"),
    19: ("no-answer", "end.no-answer"),
    1: ("not-found", "end.not-found"),
    21: ("rejected", "end.not-accepted"),
    34: ("unavailable", "end.all-busy"),
}


def end_reason(status: int, reason_header: str | None = None, *, answered: bool, by_visitor: bool = False) -> EndReason:
    """Why a call ended, from the final SIP status (or the BYE's) and a Reason header's cause."""
    if by_visitor:
        return EndReason("hangup", "end.you-hung-up", "")
    cause = q850_cause(reason_header)
    if cause is not None:
        known = lookup(cause)
        detail = f"Q.850 cause {cause}" + (f" ({known.name})" if known else "")
        if cause in _BY_CAUSE:
            key, message = _BY_CAUSE[cause]
            return EndReason(key, message, detail)
        # Any other cause (65 above all: a gateway gave up, often on a missing PRACK) is a
        # network problem the visitor cannot fix; say so instead of "the other side hung up".
        if answered:
            return EndReason("network-dropped", "end.network-dropped", detail)
        return EndReason("unavailable", "end.unavailable", detail)
    if answered or 200 <= status < 300 or status == 0:
        return EndReason("remote-hangup", "end.remote-hangup", f"SIP {status}" if status else "")
    for codes, key, message in _BY_STATUS:
        if status in codes:
            return EndReason(key, message, f"SIP {status}")
    return EndReason("failed", "end.failed", f"SIP {status}")


REFUSALS = ("unknown", "disabled", "not-yet-valid", "expired", "token", "busy")


def page_text(verdict: str, language: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """A refusal page's (title, what to do) in a language."""
    return text(language, f"refused.{verdict}.title"), text(language, f"refused.{verdict}.text")


PAGE_TEXT: dict[str, tuple[str, str]] = {verdict: page_text(verdict) for verdict in REFUSALS}
