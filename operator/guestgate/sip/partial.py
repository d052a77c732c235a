"""Partial traces: a call whose initial INVITE is not in the trace (pure, no I/O).

Without the INVITE nothing can be proved, so such a call is never OK: the diagnosis reports it as
INCONCLUSIVE, says what the messages that are there suggest, the way an expert reading them would
(a BYE with Q.850 cause 65 from a CUBE about 32-34 s into a call is the classic unacknowledged
reliable 18x; a 408 or 480 alone is a call nobody answered), and exactly which capture to take
next on each side's platform to settle it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from guestgate.sip.ladder import Ladder, LadderMessage, Party
from guestgate.sip.platforms import LABELS

# RFC 3262: a UAS retransmits an unacknowledged reliable 1xx for 64*T1 = 32 s and then gives up;
# CUBE and CUCM tear the call down 32-34 s after it began. A little room either side for clocks.
PRACK_WINDOW: Final = (28.0, 40.0)
PRACK_CAUSES: Final = frozenset({65, 47})
ONE_DAY: Final = 86_400

# How to take a SIP trace on each platform, worded to paste (sip-field-guide.md, vendors' docs).
CAPTURE: Final[dict[str, str]] = {
    "cube": "`debug ccsip messages` (with `service timestamps debug datetime msec` and `logging buffered "
            "10000000 debugging`), place a failing call, then `show logging`",
    "cucm": "a detailed SDL trace: Cisco Unified Serviceability > Trace > Configuration, service Cisco "
            'CallManager, Debug Trace Level "Detailed" with "Enable SIP Call Processing Trace" checked; '
            "place a failing call and collect that minute's Cisco CallManager traces with RTMT (Trace & Log "
            "Central > Collect Files)",
    "asterisk": "`pjsip set logger on` in the Asterisk CLI (`asterisk -rvvv`), place a failing call, then "
                "copy the console or /var/log/asterisk/full",
    "freeswitch": "`sofia global siptrace on` in fs_cli (or `sofia profile <profile> siptrace on`), place a "
                  "failing call, then copy fs_cli's output or freeswitch.log",
    "kamailio": "`sngrep -O call.pcap` or `tcpdump -i any -s 0 -w call.pcap port 5060` on the proxy: it "
                "relays the call, so one capture holds both sides of it",
    "guestgate": "a health check of the SipTrunk (`kubectl annotate siptrunk <name> "
                 'guestgate.io/health-check="$(date +%s)" --overwrite`) or `guestgate probe --peer '
                 "<host:port> --to <number>`: both record the whole ladder",
    "generic": "`tcpdump -i any -s 0 -w call.pcap port 5060` (add the RTP ports to judge media), or the "
               "platform's own SIP message trace",
}

# What the next capture must hold to settle each suspicion.
_WHAT: Final[dict[str, str]] = {
    "PRACK_MISSING": "a failing call from its INVITE: the INVITE (does it offer Supported: 100rel?), every "
                     "18x (Require: 100rel and RSeq mark a reliable one) and whether a PRACK answers it",
    "PRACK_UNANSWERED": "a failing call from its INVITE: the reliable 18x, the PRACK and what answers it",
    "NO_ANSWER": "a failing call from its INVITE: whether the callee rang (180/183) and how long before it "
                 "gave up",
}
_WHAT_DEFAULT: Final = "a failing call from its INVITE to its end (every request and response of it)"

_FINAL_CODES: Final[tuple[tuple[frozenset[int], str], ...]] = (
    (frozenset({408, 480, 487}), "NO_ANSWER"),
    (frozenset({486, 600, 603}), "BUSY"),
    (frozenset({404, 484, 604, 410, 485}), "DESTINATION_NOT_FOUND"),
    (frozenset({401, 407, 403}), "AUTH_FAILED"),
    (frozenset({488, 415, 606, 406}), "CODEC_MISMATCH"),
    (frozenset({420}), "BAD_EXTENSION_100REL"),
    (frozenset({422}), "SESSION_INTERVAL_TOO_SMALL"),
)


@dataclass(frozen=True, slots=True)
class Cited:
    """A message the suspicion rests on, the headers that show it, and why it matters."""

    item: LadderMessage
    headers: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Suspicion:
    """What a partial trace suggests: a catalogue code (or None), in one clause, and its proof."""

    code: str | None
    reason: str  # a clause: "a BYE from the Cisco CUBE with Q.850 cause 65 ... suggests ..."
    cited: tuple[Cited, ...] = ()
    cause_message: LadderMessage | None = None  # where the Q.850 cause that matters was signalled
    cause_misleading: str | None = None
    next_capture: tuple[str, ...] = field(default_factory=tuple)


def side(party: Party) -> str:
    """``the Cisco CUBE 10.10.1.1:5060``, ``the side 10.0.0.1:5060``, or ``an unknown side``."""
    label = LABELS.get(party.platform) if party.platform != "generic" else None
    if label and party.address:
        return f"the {label} {party.address}"
    if label:
        return f"the {label}"
    return f"the side {party.address}" if party.address else "a side of unknown platform"


def rtp_stat_seconds(item: LadderMessage) -> float | None:
    """The call duration a Cisco P-RTP-Stat gives (``DU=``): seconds as documented; a value too
    large to be seconds (over a day) is read as microseconds (the field notes' BYE has
    DU=34270069 for a call of 34.3 s)."""
    stat = item.message.header("P-RTP-Stat") or ""
    for part in stat.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().upper() == "DU" and value.strip().isdigit():
            seconds = int(value.strip())
            return seconds / 1_000_000 if seconds > ONE_DAY else float(seconds)
    return None


def _duration(ladder: Ladder, end: LadderMessage) -> tuple[float | None, str]:
    """How long into the call ``end`` came, and from what: P-RTP-Stat, else the trace's times."""
    if (seconds := rtp_stat_seconds(end)) is not None:
        return seconds, "P-RTP-Stat DU"
    first = ladder.messages[0]
    if first is not end and first.time is not None and end.time is not None:
        return end.time - first.time, f"since #{first.index} {first.message.summary}"
    return None, ""


def _ending(ladder: Ladder) -> LadderMessage | None:
    """The message that ended the call: a final failure to the INVITE, a CANCEL, or a BYE."""
    for item in ladder.messages:
        message = item.message
        if message.cseq_method == "INVITE" and (message.status or 0) >= 300:
            return item
        if message.method in ("CANCEL", "BYE"):
            return item
    return None


def _reliable_unacknowledged(ladder: Ladder) -> LadderMessage | None:
    acked = {m.message.rack[0] for m in ladder.messages if m.message.method == "PRACK" and m.message.rack}
    return next((m for m in ladder.messages if m.message.status and 100 < m.message.status < 200
                 and "100rel" in m.message.tokens("Require") and m.message.rseq is not None
                 and m.message.rseq not in acked), None)


def _prack_refused(ladder: Ladder) -> tuple[LadderMessage, LadderMessage | None] | None:
    for prack in (m for m in ladder.messages if m.message.method == "PRACK"):
        answers = [m for m in ladder.messages if m.message.status and m.message.cseq == prack.message.cseq]
        if not any(200 <= (m.message.status or 0) < 300 for m in answers):
            return prack, (answers[-1] if answers else None)
    return None


def _what(item: LadderMessage, ladder: Ladder) -> str:
    sender = side(ladder.party(item.sender))
    return f"{'a ' + (item.message.method or '') if item.message.is_request else item.message.summary} from {sender}"


def suspect(ladder: Ladder) -> Suspicion:
    """What the messages of a call without INVITE suggest, and the capture that would settle it."""
    found = _judge(ladder)
    return replace(found, next_capture=next_captures(ladder, found.code))


def _judge(ladder: Ladder) -> Suspicion:
    reliable = _reliable_unacknowledged(ladder)
    if reliable is not None:
        return Suspicion("PRACK_MISSING", f"a reliable {reliable.message.summary} (Require: 100rel, RSeq: "
                         f"{reliable.message.rseq}) that nothing PRACKs here suggests PRACK_MISSING",
                         (Cited(reliable, ("Require", "RSeq", "Server"),
                                "reliable provisional response, no PRACK seen"),))
    refused = _prack_refused(ladder)
    if refused is not None:
        prack, answer = refused
        got = answer.message.summary if answer else "no response"
        cited = (Cited(prack, ("RAck",)), *((Cited(answer, ("Reason", "Warning")),) if answer else ()))
        return Suspicion("PRACK_UNANSWERED", f"a PRACK that got {got} suggests PRACK_UNANSWERED", cited)
    end = _ending(ladder)
    if end is None:
        answered = any(m.message.cseq_method == "INVITE" and 200 <= (m.message.status or 0) < 300
                       for m in ladder.messages)
        kinds = ", ".join(dict.fromkeys(m.message.method or m.message.summary for m in ladder.messages))
        what = "the call was answered, and nothing in this part says it failed" if answered else \
            "nothing in it says how the call went"
        return Suspicion(None, f"the trace holds only {kinds}: {what}", (Cited(ladder.messages[0], ()),))
    message = end.message
    cause = message.q850_cause
    seconds, source = _duration(ladder, end)
    when = f" {seconds:.1f} s into the call ({source})" if seconds is not None else ""
    with_cause = f" with Q.850 cause {cause}" if cause is not None else ""
    opening = f"{_what(end, ladder)}{with_cause}{when}"
    proof = (Cited(end, ("Reason", "P-RTP-Stat", "User-Agent", "Server", "Warning"), "the call ends here"),)
    if cause in PRACK_CAUSES and (seconds is None or PRACK_WINDOW[0] <= seconds <= PRACK_WINDOW[1]):
        timing = f"{seconds:.1f} s after it began" if seconds is not None else "(when, this trace does not say)"
        misleading = (f"cause {cause} reads like a codec or resource problem, but a call torn down with it "
                      f"{timing} is the classic unacknowledged reliable 18x: RFC 3262 has the callee "
                      "retransmit a reliable 18x for 32 s and then give up; get the INVITE and the 18x to "
                      "confirm")
        return Suspicion("PRACK_MISSING", f"{opening} suggests PRACK_MISSING, a reliable 18x never PRACKed",
                         proof, end, misleading)
    if message.method == "CANCEL":
        return Suspicion("NO_ANSWER", f"{opening} suggests NO_ANSWER, the caller gave up before an answer",
                         proof, end)
    if message.method == "BYE":
        if cause is None or cause in (16, 31):
            return Suspicion(None, f"{opening}: a call answered and cleared normally, nothing here says it "
                             "failed", proof, end)
        return Suspicion("DROPPED_AFTER_ANSWER", f"{opening} suggests DROPPED_AFTER_ANSWER", proof, end)
    status = message.status or 0
    code = next((c for statuses, c in _FINAL_CODES if status in statuses), None) \
        or ("PEER_UNAVAILABLE" if status >= 500 else "CALL_REJECTED")
    return Suspicion(code, f"{opening} suggests {code}", proof, end)


def reorient(ladder: Ladder) -> Ladder:
    """A call without INVITE whose roles the ending tells better than the first request does.

    The ladder takes the sender of the first request as the caller when it has nothing better;
    a side that ends the call with cause 65/47 (the PRACK timer) is the callee, the UAS that gave
    up on its reliable 18x: the roles are turned round so that the fixes address the right sides.
    """
    if any(m.message.cseq_method == "INVITE" and (m.message.status or not m.message.to_tag)
           for m in ladder.messages):
        return ladder  # an initial INVITE or responses to an INVITE say who called
    end = _ending(ladder)
    if end is None or end.message.method != "BYE" or end.message.q850_cause not in PRACK_CAUSES \
            or end.sender == "callee":
        return ladder
    swapped = tuple(replace(m, sender=m.receiver) for m in ladder.messages)
    media = ladder.media and replace(ladder.media, from_caller=ladder.media.from_callee,
                                     from_callee=ladder.media.from_caller, early_from_callee=None)
    return replace(ladder, messages=swapped, media=media,
                   caller=replace(ladder.callee, role="caller"), callee=replace(ladder.caller, role="callee"))


def next_captures(ladder: Ladder, code: str | None) -> tuple[str, ...]:
    """What to capture, then how on each side whose platform is known (generic when none is)."""
    lines = [f"capture {_WHAT.get(code or '', _WHAT_DEFAULT)}"]
    seen: set[str] = set()
    for party in (ladder.caller, ladder.callee):
        if party.platform == "generic" or party.platform in seen:
            continue
        seen.add(party.platform)
        lines.append(f"on {side(party)}: {CAPTURE[party.platform]}")
    if not seen:
        lines.append(f"on either side: {CAPTURE['generic']}")
    return tuple(lines)
