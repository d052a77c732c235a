"""What GuestGate's caller hears before the answer, from the trunk's early-media policy.

The diagnosis judges a ladder without knowing what the caller does locally; GuestGate knows its
own policy, so a live call's report is corrected here: with local ringback on, an 18x without
SDP is not silence; with it off ("never"), it is (NO_RINGBACK, fixed on our side).
The browser leg asks `plays_local_ringback` on each 18x to decide between local tone and early
media.
"""

from __future__ import annotations

from dataclasses import replace

from guestgate.config.schema import EarlyMediaConfig
from guestgate.sip.diagnosis import Report
from guestgate.sip.findings import SEVERITY_ORDER, Evidence, Finding, Fix
from guestgate.sip.fixes import fix_for
from guestgate.sip.ladder import Ladder


def plays_local_ringback(policy: EarlyMediaConfig, status: int, has_sdp: bool) -> bool:
    """Does the caller play its own ringback on this 18x (True) or rely on the peer's audio?"""
    if not 180 <= status <= 199:
        return False
    if policy.local_ringback == "always":
        return True
    if status == 180 and policy.disable_on_180:
        return True
    if policy.local_ringback == "never":
        return False
    return not has_sdp


def _hears_ringback(ladder: Ladder, policy: EarlyMediaConfig) -> bool | None:
    """None when no 18x came at all (nothing to judge)."""
    provisional = [m for m in ladder.messages if m.message.status is not None and 180 <= m.message.status <= 199]
    if not provisional:
        return None
    return any(
        plays_local_ringback(policy, m.message.status or 0, m.message.sdp is not None) or m.message.sdp is not None
        for m in provisional
    )


def apply_ringback_policy(report: Report, policy: EarlyMediaConfig) -> Report:
    """The report with NO_RINGBACK made true for GuestGate's own policy."""
    findings: list[Finding] = []
    for index, ladder in enumerate(report.ladders):
        own = [f for f in report.findings if f.call == index]
        hears = _hears_ringback(ladder, policy)
        if hears is True and not any(m.message.sdp is not None for m in ladder.messages if _is_18x(m.message.status)):
            # The diagnosis warns that a caller *without* local ringback hears silence; ours rings.
            own = [f for f in own if f.code != "NO_RINGBACK"]
        if hears is False and not any(f.code == "NO_RINGBACK" for f in own):
            own.append(_no_ringback(ladder, index))
            own = [f for f in own if f.code != "OK"]  # OK is only said when nothing is wrong
        findings += own
    findings.sort(key=lambda f: SEVERITY_ORDER[f.severity])
    return replace(report, findings=tuple(findings))


def _is_18x(status: int | None) -> bool:
    return status is not None and 180 <= status <= 199


def _no_ringback(ladder: Ladder, index: int) -> Finding:
    first = next(m for m in ladder.messages if _is_18x(m.message.status))
    caller_fix, callee_fix = fix_for("NO_RINGBACK", "guestgate", ladder.callee.platform)
    return Finding(
        code="NO_RINGBACK",
        severity="warning",
        summary=(
            f"The callee sent {first.message.summary} without SDP and GuestGate's trunk plays no local "
            "ringback (earlyMedia.localRingback: never): the visitor hears silence until the answer."
        ),
        evidence=(Evidence(message=first.index, line=first.message.summary),),
        call=index,
        fix=Fix(
            caller=caller_fix,
            callee=callee_fix,
            caller_platform="guestgate",
            callee_platform=ladder.callee.platform,
        ),
    )
