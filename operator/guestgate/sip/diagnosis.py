"""The diagnosis: ladders in, findings out (pure, no I/O).

``diagnose(ladders)`` looks at each call in turn: first whether the peer answered at all, then
the reliable-provisional (PRACK) dance, because its failure hides behind misleading causes and
final responses; then the final response; then what happened after the answer (media, who hung
up and why); then early media. Several ladders are compared at the end, to say what differs
between the calls that work and those that fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from guestgate.sip import q850
from guestgate.sip.compare import compare
from guestgate.sip.findings import INCONCLUSIVE, SEVERITY_ORDER, CauseInfo, Evidence, Finding, Fix, Severity
from guestgate.sip.fixes import fix_for
from guestgate.sip.ladder import Ladder, LadderMessage
from guestgate.sip.legs import b2bua_legs
from guestgate.sip.partial import reorient, suspect
from guestgate.sip.platforms import LABELS

# RFC 3262: the UAS retransmits a reliable 1xx for 64*T1 = 32 s before giving up. A drop with
# cause 65 later than this after the last 18x/200 is not the PRACK timer.
PRACK_GIVE_UP_SECONDS = 40.0
# Below this, an answered call has had no time to exchange RTP: do not judge media.
MIN_MEDIA_SECONDS = 1.0
PRACK_CAUSES = frozenset({65, 47})
EVIDENCE_HEADERS = ("Require", "Supported", "RSeq", "RAck", "Reason", "Unsupported", "Min-SE",
                    "Session-Expires", "Retry-After", "WWW-Authenticate", "Proxy-Authenticate",
                    "Authorization", "Proxy-Authorization", "P-RTP-Stat", "User-Agent", "Server")


@dataclass(frozen=True)
class Report:
    """Everything the diagnosis says about one or more ladders."""

    ladders: tuple[Ladder, ...]
    findings: tuple[Finding, ...]
    comparison: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def outcome(self) -> str:
        """The code of the most severe finding (the first one): what went wrong, or OK."""
        worst = next((f for f in self.findings if f.severity != "info"), None)
        return worst.code if worst else "OK"

    def outcome_of(self, call: int) -> str:
        worst = next((f for f in self.findings if f.call == call and f.severity != "info"), None)
        return worst.code if worst else "OK"


@dataclass
class _Call:
    """Facts about one call, computed once from its ladder."""

    ladder: Ladder
    invite: LadderMessage | None = None  # first message of the last initial INVITE attempt
    responses: list[LadderMessage] = field(default_factory=list)  # to that attempt
    final: LadderMessage | None = None
    provisional: list[LadderMessage] = field(default_factory=list)
    reliable: dict[int, LadderMessage] = field(default_factory=dict)  # RSeq -> first 18x
    pracks: list[LadderMessage] = field(default_factory=list)
    bye: LadderMessage | None = None
    cancel: LadderMessage | None = None

    @property
    def answered(self) -> bool:
        return bool(self.final and self.final.message.status and 200 <= self.final.message.status < 300)

    @property
    def end(self) -> LadderMessage | None:
        """The message that ended the call (BYE, CANCEL, or a final failure)."""
        if self.answered:
            return self.bye
        return self.cancel or (self.final if self.final and not self.answered else None) or self.bye


def _facts(ladder: Ladder) -> _Call:
    call = _Call(ladder=ladder)
    initial = [m for m in ladder.messages if m.message.method == "INVITE" and not m.message.to_tag]
    if not initial:
        initial = [m for m in ladder.messages if m.message.method == "INVITE"]
    if not initial:
        return call
    cseq = initial[-1].message.cseq
    call.invite = next(m for m in initial if m.message.cseq == cseq)
    call.responses = [m for m in ladder.messages if m.message.status and m.message.cseq == cseq]
    call.final = next((m for m in call.responses if (m.message.status or 0) >= 200), None)
    call.provisional = [m for m in call.responses if 100 < (m.message.status or 0) < 200]
    for item in call.provisional:
        rseq = item.message.rseq
        if "100rel" in item.message.tokens("Require") and rseq is not None:
            call.reliable.setdefault(rseq, item)
    call.pracks = [m for m in ladder.messages if m.message.method == "PRACK"]
    after = [m for m in ladder.messages if m.index > call.invite.index]
    call.bye = next((m for m in after if m.message.method == "BYE"), None)
    call.cancel = next((m for m in after if m.message.method == "CANCEL"), None)
    return call


# --- small helpers ------------------------------------------------------------------------------

def _evidence(item: LadderMessage, *names: str, note: str = "") -> Evidence:
    wanted = names or EVIDENCE_HEADERS
    headers = tuple(shown for name in wanted if (shown := item.message.shown(name)))
    if item.message.sdp is not None:
        headers = (*headers, "SDP: " + _codec_text(item))
    return Evidence(message=item.index, line=item.message.summary, headers=headers, note=note)


def _codec_text(item: LadderMessage) -> str:
    audio = item.message.sdp.audio if item.message.sdp else None
    if audio is None:
        return "no audio"
    return f"{audio.address}:{audio.port} {' '.join(audio.codecs)} {audio.direction}"


def _media_address(item: LadderMessage | None) -> str:
    audio = item.message.sdp.audio if item and item.message.sdp else None
    return f"{audio.address}:{audio.port}" if audio else "?"


def _elapsed(start: LadderMessage | None, end: LadderMessage | None) -> float | None:
    if start is None or end is None or start.time is None or end.time is None:
        return None
    return end.time - start.time


def _seconds(value: float | None) -> str:
    return f" {value:.1f} s later" if value is not None else ""


def _who(ladder: Ladder, role: str) -> str:
    party = ladder.caller if role == "caller" else ladder.callee
    where = f" {party.address}" if party.address else ""
    return f"the {role}{where} ({LABELS.get(party.platform, party.platform)})"


def _signalled_cause(items: list[LadderMessage], misleading: str | None = None) -> CauseInfo | None:
    for item in items:
        for reason in item.message.reasons:
            if reason.protocol != "Q.850":
                continue
            known = q850.lookup(reason.cause)
            return CauseInfo(q850=reason.cause, name=q850.name_of(reason.cause),
                             sip=known.sip if known else None, message=item.index,
                             header=f"Reason: {reason.raw}", misleading=misleading)
    return None


def _cause_text(cause: CauseInfo | None) -> str:
    return f"Q.850 cause {cause.q850} ({cause.name.lower()})" if cause else "no Q.850 cause"


def _merged(evidence: list[Evidence]) -> tuple[Evidence, ...]:
    """One entry per message, in ladder order: checks may cite the same message twice."""
    by_message: dict[int, Evidence] = {}
    for item in evidence:
        seen = by_message.get(item.message)
        if seen is None:
            by_message[item.message] = item
            continue
        headers = tuple(dict.fromkeys((*seen.headers, *item.headers)))
        note = "; ".join(n for n in dict.fromkeys((seen.note, item.note)) if n)
        by_message[item.message] = replace(seen, headers=headers, note=note)
    return tuple(by_message[index] for index in sorted(by_message))


class _Builder:
    """Makes findings for one ladder, with the fix worded for each side's platform."""

    def __init__(self, call: _Call, index: int) -> None:
        self.call = call
        self.index = index

    def finding(self, code: str, severity: Severity, summary: str, evidence: list[Evidence],
                cause: CauseInfo | None = None, *, suspected: str | None = None,
                next_capture: tuple[str, ...] = (), **params: str) -> Finding:
        ladder = self.call.ladder
        defaults = {"callee_address": ladder.callee.address or "the next hop",
                    "cause_text": _cause_text(cause)}
        caller_fix, callee_fix = fix_for(suspected or code, ladder.caller.platform, ladder.callee.platform,
                                         {**defaults, **params})
        if suspected:  # a partial trace proves nothing: the fix holds once a capture confirms it
            caller_fix, callee_fix = (f"if the next capture confirms {suspected}: {caller_fix}",
                                      f"if the next capture confirms {suspected}: {callee_fix}")
        return Finding(code=code, severity=severity, summary=summary, evidence=_merged(evidence),
                       cause=cause, call=self.index, call_id=ladder.call_id,
                       caller_address=ladder.caller.address, callee_address=ladder.callee.address,
                       suspected=suspected, next_capture=next_capture,
                       fix=Fix(caller=caller_fix, callee=callee_fix,
                               caller_platform=ladder.caller.platform,
                               callee_platform=ladder.callee.platform))


# --- the checks, in the order a call goes wrong --------------------------------------------------

def _no_invite(call: _Call, make: _Builder) -> list[Finding]:
    ladder = call.ladder
    options = [m for m in ladder.messages if m.message.method == "OPTIONS"]
    if not options:
        return []
    cseqs = {m.message.cseq for m in options}
    answers = [m for m in ladder.messages if m.message.status and m.message.cseq in cseqs]
    if not answers:
        return [make.finding("PEER_UNREACHABLE", "error",
                             f"{len(options)} OPTIONS sent to {_who(ladder, 'callee')}, no response at all.",
                             [_evidence(options[0], "Via"), _evidence(options[-1], "Via")])]
    final = answers[-1]
    status = final.message.status or 0
    if status >= 500:
        return [_unavailable(make, final, "OPTIONS")]
    return [make.finding("OK", "info", f"The peer answers OPTIONS with {final.message.summary}.",
                         [_evidence(final)])]


def _partial(call: _Call, make: _Builder) -> list[Finding]:
    """INCONCLUSIVE: no initial INVITE in the trace; what the rest suggests and what to capture next."""
    ladder = call.ladder
    found = suspect(ladder)
    evidence = [_evidence(c.item, *c.headers, note=c.note) for c in found.cited]
    cause = _signalled_cause([found.cause_message], found.cause_misleading) if found.cause_message else None
    count = len(ladder.messages)
    summary = (f"Partial trace, the initial INVITE is not in it ({count} message{'s' if count != 1 else ''}), so "
               f"nothing is proved: {found.reason}.")
    return [make.finding("INCONCLUSIVE", "warning", summary, evidence, cause, suspected=found.code,
                         next_capture=found.next_capture)]


def _unreachable(call: _Call, make: _Builder) -> list[Finding]:
    assert call.invite is not None
    cseq = call.invite.message.cseq
    sent = [m for m in call.ladder.messages if m.message.method == "INVITE" and m.message.cseq == cseq]
    waited = _elapsed(sent[0], sent[-1])
    return [make.finding(
        "PEER_UNREACHABLE", "error",
        f"The INVITE to {_who(call.ladder, 'callee')} got no response at all "
        f"({len(sent)} transmission(s){', over ' + format(waited, '.1f') + ' s' if waited else ''}).",
        [_evidence(sent[0], "Via", "Max-Forwards"), *([_evidence(sent[-1], "Via")] if len(sent) > 1 else [])])]


def _prack(call: _Call, make: _Builder) -> list[Finding]:
    """PRACK_UNANSWERED and PRACK_MISSING (RFC 3262)."""
    ladder = call.ladder
    assert call.invite is not None
    findings: list[Finding] = []
    acked: set[int] = set()
    for prack in call.pracks:
        rack = prack.message.rack
        if rack:
            acked.add(rack[0])
        answers = [m for m in ladder.messages if m.message.status and m.message.cseq == prack.message.cseq
                   and m.message.cseq_method == "PRACK"]
        if not any(200 <= (m.message.status or 0) < 300 for m in answers):
            got = answers[-1].message.summary if answers else "no response"
            findings.append(make.finding(
                "PRACK_UNANSWERED", "error",
                f"The caller's PRACK ({prack.message.shown('RAck') or 'no RAck'}) got {got}, not 200 OK; "
                "the callee does not take the acknowledgement of its reliable 18x.",
                [_evidence(prack, "RAck", "Route"), *(_evidence(m, "Reason", "Warning") for m in answers[:1])]))
    unacked = [m for rseq, m in call.reliable.items() if rseq not in acked]
    if not unacked or findings:
        return findings
    first = unacked[0]
    end = call.end
    offered = call.invite.message.tokens("Supported") | call.invite.message.tokens("Require")
    invite_note = "" if "100rel" in offered else \
        "the INVITE does not offer 100rel (no Supported: 100rel), yet the callee sent a reliable 18x"
    # The UAS retransmits an unacknowledged reliable 18x (T1 doubling, RFC 3262 section 3): how
    # often it did shows how long it waited for the PRACK.
    copies = [m for m in call.provisional if m.message.rseq == first.message.rseq]
    spread = _elapsed(copies[0], copies[-1])
    sent = (f", sent {len(copies)} times" + (f" over {spread:.1f} s" if spread is not None else "")
            if len(copies) > 1 else "")
    evidence = [_evidence(call.invite, "Supported", "Require", "User-Agent", note=invite_note),
                _evidence(first, "Require", "RSeq", "Server", "User-Agent",
                          note=f"reliable provisional response{sent}, never PRACKed")]
    failed = end is not None and ((end.message.method in ("BYE", "CANCEL") and end.sender == "callee")
                                  or not call.answered)
    misleading = None
    cause = _signalled_cause([end] if end else [])
    if cause and cause.q850 in PRACK_CAUSES:
        misleading = (f"cause {cause.q850} ({cause.name.lower()}) reads like a codec or resource problem; "
                      "here it is the symptom of the missing PRACK: RFC 3262 has the UAS retransmit a "
                      "reliable 1xx until it is PRACKed and give up after 32 s, and forbids a 2xx before a "
                      "reliable 1xx with SDP is PRACKed")
        cause = replace(cause, misleading=misleading)
    if end is not None and end.index not in {e.message for e in evidence}:
        evidence.append(_evidence(end, "Reason", "P-RTP-Stat", note="the call ends here"))
    if call.final is not None and call.answered:
        evidence.insert(2, _evidence(call.final, "Require", note="answered without the PRACK"))
    status = first.message.status
    if failed or cause is not None:
        if end is None:
            how = "the trace ends without an answer"
        elif end.message.method in ("BYE", "CANCEL"):
            how = f"the {end.sender} then sent {end.message.method}"
        else:
            how = f"the callee then gave up with {end.message.summary}"
        summary = (f"The callee sent a reliable {status} (Require: 100rel, RSeq: {first.message.rseq}) that "
                   "the caller never PRACKed (RFC 3262 requires one for every reliable 18x); "
                   f"{how}{_seconds(_elapsed(first, end))} with {_cause_text(cause)}.")
        return [make.finding("PRACK_MISSING", "error", summary, evidence, cause)]
    return [make.finding(
        "PRACK_MISSING", "warning",
        f"The callee sent a reliable {status} (RSeq: {first.message.rseq}) that the caller never PRACKed; "
        "this call survived, but RFC 3262 lets the callee drop calls like it.", evidence)]


def _final_response(call: _Call, make: _Builder) -> list[Finding]:
    """Findings from a final failure response to the INVITE."""
    final = call.final
    if final is None or call.answered:
        return []
    message = final.message
    status = message.status or 0
    cause = _signalled_cause([final])
    number = _number(call)
    if cause and cause.q850 in PRACK_CAUSES and _early_answer_agreed(call) \
            and (_elapsed(call.provisional[-1], final) or 0.0) <= PRACK_GIVE_UP_SECONDS:
        # The offer was already answered in an 18x with a common codec: not a codec problem here.
        return [_downstream(call, make, final, cause, f"gave up with {message.summary} after the 18x")]
    if status == 420 and "100rel" in message.tokens("Unsupported"):
        return [make.finding("BAD_EXTENSION_100REL", "error",
                             "The caller requires 100rel (Require: 100rel) and the callee does not support "
                             "it: 420 Bad Extension with Unsupported: 100rel.",
                             [_evidence(call.invite, "Require", "Supported") if call.invite else
                              _evidence(final), _evidence(final, "Unsupported")], cause)]
    if status in (401, 407, 403):
        return [_auth(call, make, final, cause)]
    if status in (404, 484, 604, 410, 485):
        return [make.finding("DESTINATION_NOT_FOUND", "error",
                             f"The callee does not know the dialled number {number}: {message.summary}.",
                             [_evidence(final, "Reason", "Warning"), _evidence(call.invite, "To")]
                             if call.invite else [_evidence(final)], cause, number=number)]
    if status in (486, 600, 603):
        return [make.finding("BUSY", "warning", f"The destination {number} is busy or declined: "
                             f"{message.summary}.", [_evidence(final, "Reason")], cause, number=number)]
    if status in (408, 480) or (status == 487 and call.cancel is not None):
        return _no_answer(call, make, final, cause)
    if status in (488, 415, 606, 406):
        return [_codec(call, make, final, cause)]
    if status == 422:
        min_se = (message.header("Min-SE") or "?").split(";")[0].strip()
        offered = (call.invite.message.header("Session-Expires") if call.invite else None) or "none"
        return [make.finding("SESSION_INTERVAL_TOO_SMALL", "error",
                             f"The callee wants sessions refreshed no more often than every {min_se} s "
                             f"(Min-SE: {min_se}); the caller offered Session-Expires: {offered}.",
                             [_evidence(call.invite, "Session-Expires", "Min-SE", "Supported")
                              if call.invite else _evidence(final), _evidence(final, "Min-SE")],
                             cause, min_se=min_se)]
    if status >= 500:
        return [_unavailable(make, final, "INVITE", cause)]
    return [make.finding("CALL_REJECTED", "error", f"The callee rejected the call: {message.summary}.",
                         [_evidence(final, "Reason", "Warning")], cause, status=message.summary)]


def _early_answer_agreed(call: _Call) -> bool:
    """An 18x carried SDP with a voice codec the offer has."""
    offer = _sdp_item(call, "caller")
    offered = offer.message.sdp.audio.voice_codecs if offer and offer.message.sdp and offer.message.sdp.audio \
        else frozenset()
    return any(m.message.sdp is not None and m.message.sdp.audio is not None
               and offered & m.message.sdp.audio.voice_codecs for m in call.provisional)


def _number(call: _Call) -> str:
    uri = call.invite.message.request_uri if call.invite else None
    if not uri:
        return "?"
    user = uri.split(":", 1)[-1].split("@", 1)[0]
    return user.split(";", 1)[0] or uri


def _auth(call: _Call, make: _Builder, final: LadderMessage, cause: CauseInfo | None) -> Finding:
    challenge = final.message.header("WWW-Authenticate") or final.message.header("Proxy-Authenticate") or ""
    realm = challenge.split("realm=", 1)[1].split(",", 1)[0].strip('" ') if "realm=" in challenge else "?"
    sent = call.invite is not None and (call.invite.message.has("Authorization")
                                        or call.invite.message.has("Proxy-Authorization"))
    status = final.message.status
    if status == 403:
        what = "refused the caller (403 Forbidden): wrong credentials or an address it does not trust"
    elif sent:
        what = f"rejected the caller's credentials (another {status} to an INVITE that carried them)"
    else:
        what = f"asked for credentials ({status}) and the caller sent none"
    evidence = [_evidence(final, "WWW-Authenticate", "Proxy-Authenticate", "Reason", "Warning")]
    if call.invite is not None:
        evidence.insert(0, _evidence(call.invite, "Authorization", "Proxy-Authorization"))
    return make.finding("AUTH_FAILED", "error", f"The callee {what}.", evidence, cause, realm=realm)


def _no_answer(call: _Call, make: _Builder, final: LadderMessage | None,
               cause: CauseInfo | None) -> list[Finding]:
    rang = call.provisional[0] if call.provisional else None
    if final is not None and final.message.status in (408, 480):
        text = f"Nobody answered: {final.message.summary}{_seconds(_elapsed(call.invite, final))}."
        return [make.finding("NO_ANSWER", "warning", text, [_evidence(final, "Reason")], cause)]
    ended = call.cancel
    if ended:
        text = (f"The caller cancelled after ringing{_seconds(_elapsed(rang or call.invite, ended))}: "
                "nobody answered in time." if rang else
                f"The caller cancelled{_seconds(_elapsed(call.invite, ended))} before any ringing.")
    else:
        text = ("The trace ends while the call is still ringing." if rang else
                "The callee said 100 Trying and then nothing before the trace ends: no ringing, no answer.")
    last = call.responses[-1] if call.responses else None
    evidence = [_evidence(m, "Reason") for m in (call.invite, rang or last, ended) if m is not None]
    return [make.finding("NO_ANSWER", "warning", text, evidence, cause or _signalled_cause(
        [ended] if ended else []))]


def _codec(call: _Call, make: _Builder, where: LadderMessage, cause: CauseInfo | None) -> Finding:
    offer = _sdp_item(call, "caller")
    answer = _sdp_item(call, "callee")
    caller_codecs = _codecs(offer)
    callee_codecs = _codecs(answer)
    if (where.message.status or 0) >= 300:
        text = f"The callee refused the offer: {where.message.summary} (caller offered {caller_codecs})."
    else:
        text = (f"Offer and answer have no voice codec in common (caller: {caller_codecs}; "
                f"callee: {callee_codecs}).")
    evidence = [_evidence(m, "Content-Type") for m in (offer, answer) if m is not None]
    if where not in (offer, answer):
        evidence.append(_evidence(where, "Reason", "Warning"))
    return make.finding("CODEC_MISMATCH", "error", text, evidence, cause,
                        caller_codecs=caller_codecs, callee_codecs=callee_codecs)


def _sdp_item(call: _Call, role: str) -> LadderMessage | None:
    return next((m for m in call.ladder.messages if m.sender == role and m.message.sdp is not None
                 and m.message.sdp.audio is not None), None)


def _codecs(item: LadderMessage | None) -> str:
    audio = item.message.sdp.audio if item and item.message.sdp else None
    return ", ".join(audio.codecs) if audio else "none seen"


def _unavailable(make: _Builder, final: LadderMessage, what: str, cause: CauseInfo | None = None) -> Finding:
    retry = (final.message.header("Retry-After") or "").split(";")[0].strip()
    retry_after = f"{retry} s" if retry else "a while"
    text = f"The peer refused the {what}: {final.message.summary}" + (
        f", Retry-After: {retry} s." if retry else ".")
    return make.finding("PEER_UNAVAILABLE", "error", text,
                        [_evidence(final, "Retry-After", "Reason", "Warning", "Server")], cause,
                        retry_after=retry_after)


def _downstream(call: _Call, make: _Builder, end: LadderMessage, cause: CauseInfo, how: str) -> Finding:
    """PRACK_MISSING_DOWNSTREAM: cause 65/47 after a clean 18x/200 on this leg (no reliable 18x)."""
    last_18x = call.provisional[-1] if call.provisional else None
    misleading = (f"cause {cause.q850} ({cause.name.lower()}) is the symptom of a reliable 18x that a "
                  "hop behind the callee never PRACKed (RFC 3262), not a codec problem on this leg")
    evidence = [_evidence(m, "Require", "Server") for m in (last_18x, call.final)
                if m is not None and m is not end]
    return make.finding(
        "PRACK_MISSING_DOWNSTREAM", "error",
        f"No reliable 18x in this ladder, yet the callee {how} with {_cause_text(cause)}: a hop behind "
        f"{_who(call.ladder, 'callee')} is missing a PRACK; trace the callee's next leg.",
        [*evidence, _evidence(end, "Reason", "P-RTP-Stat", "User-Agent", note="the call ends here")],
        replace(cause, misleading=misleading))


def _after_answer(call: _Call, make: _Builder) -> list[Finding]:
    """Answered calls: no common codec, no RTP, or dropped by the callee."""
    if not call.answered or call.final is None:
        return []
    findings: list[Finding] = []
    offer, answer = _sdp_item(call, "caller"), _sdp_item(call, "callee")
    if offer and answer and offer.message.sdp and answer.message.sdp:
        offered = offer.message.sdp.audio.voice_codecs if offer.message.sdp.audio else frozenset()
        answered = answer.message.sdp.audio.voice_codecs if answer.message.sdp.audio else frozenset()
        if offered and answered and not offered & answered:
            findings.append(_codec(call, make, answer, None))
    bye = call.bye
    cause = _signalled_cause([bye]) if bye else None
    since_answer = _elapsed(call.final, bye)
    if bye is not None and bye.sender == "callee" and cause and cause.q850 in PRACK_CAUSES \
            and (since_answer is None or since_answer <= PRACK_GIVE_UP_SECONDS):
        findings.append(_downstream(call, make, bye, cause, f"hung up{_seconds(since_answer)} after the answer"))
        return findings
    media = call.ladder.media
    lasted = _elapsed(call.final, bye) if bye else None
    if media is not None and (lasted is None or lasted >= MIN_MEDIA_SECONDS):
        silent = [role for role, count in (("caller", media.from_caller), ("callee", media.from_callee))
                  if count == 0]
        if silent:
            how = "no audio either way" if len(silent) == 2 else \
                f"one-way audio: no RTP from the {silent[0]}"
            findings.append(make.finding(
                "NO_MEDIA", "error",
                f"Answered, but {how} ({media.from_caller} packets from the caller, {media.from_callee} "
                f"from the callee, counted from {media.source}).",
                [_evidence(m, "Content-Type") for m in (offer, answer) if m is not None]
                + [_evidence(call.final)],
                caller_media=_media_address(offer), callee_media=_media_address(answer)))
    if bye is not None and bye.sender == "callee" and cause and cause.q850 not in (16, 31):
        findings.append(make.finding(
            "DROPPED_AFTER_ANSWER", "error",
            f"Answered, then the callee hung up{_seconds(since_answer)} with {_cause_text(cause)}.",
            [_evidence(call.final), _evidence(bye, "Reason", "P-RTP-Stat", "User-Agent")],
            _cause_with_notes(cause)))
    return findings


def _cause_with_notes(cause: CauseInfo) -> CauseInfo:
    known = q850.lookup(cause.q850)
    return replace(cause, misleading=known.misleading[0]) if known and known.misleading else cause


def _early_media(call: _Call, make: _Builder) -> list[Finding]:
    """NO_RINGBACK and EARLY_MEDIA_ON_180."""
    findings: list[Finding] = []
    with_sdp = [m for m in call.provisional if m.message.sdp is not None]
    without = [m for m in call.provisional if m.message.sdp is None]
    ringing_180 = [m for m in call.provisional if m.message.status == 180]
    media = call.ladder.media
    if with_sdp and media is not None and media.early_from_callee == 0 and (call.answered or call.cancel):
        findings.append(make.finding(
            "NO_RINGBACK", "warning",
            f"The callee announced early media ({with_sdp[0].message.summary} with SDP) but sent no RTP "
            "before the answer: the caller stops its local ringback and hears silence.",
            [_evidence(with_sdp[0], "Content-Type", "Require")]))
    elif without and not with_sdp and not ringing_180:
        findings.append(make.finding(
            "NO_RINGBACK", "warning",
            f"The callee only sent {without[0].message.summary} without SDP and no 180: no early media "
            "and no ringing signal, so a caller without local ringback hears silence.",
            [_evidence(without[0], "Require", "Server")]))
    for item in ringing_180:
        if item.message.sdp is not None:
            findings.append(make.finding(
                "EARLY_MEDIA_ON_180", "info",
                "The 180 Ringing carries SDP (early media): a caller with early media on 180 disabled "
                "plays its own ringback and ignores it.", [_evidence(item, "Content-Type")]))
            break
    return findings


def _ok(call: _Call, make: _Builder) -> Finding:
    media = call.ladder.media
    media_text = (f"RTP both ways ({media.from_caller} packets from the caller, {media.from_callee} from "
                  f"the callee)" if media and media.from_caller and media.from_callee else
                  "media not known")
    ending = "still up when the trace ends" if call.bye is None else f"cleared by the {call.bye.sender} with BYE"
    assert call.final is not None
    evidence = [_evidence(call.final)] + ([_evidence(call.bye, "Reason")] if call.bye else [])
    return make.finding("OK", "info", f"Answered, {media_text}, {ending}.", evidence)


def diagnose_ladder(ladder: Ladder, index: int = 0) -> list[Finding]:
    """Findings for one ladder, most severe first."""
    call = _facts(ladder)
    make = _Builder(call, index)
    if call.invite is None:
        return _no_invite(call, make) or (_partial(call, make) if ladder.messages else [])
    if call.invite.message.to_tag:  # only re-INVITEs: the trace began after the call was set up
        return _partial(call, make)
    if not call.responses and not any(m.sender == "callee" for m in ladder.messages):
        return _unreachable(call, make)
    findings = _prack(call, make)
    if not any(f.severity == "error" for f in findings):
        findings += _final_response(call, make)
        findings += _after_answer(call, make)
        if call.final is None and not findings:
            findings += _no_answer(call, make, None, None)
    findings += _early_media(call, make)
    if call.answered and not any(f.severity in ("error", "warning") for f in findings):
        findings.insert(0, _ok(call, make))
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


def diagnose(ladders: list[Ladder] | tuple[Ladder, ...], caller_platform: str | None = None,
             callee_platform: str | None = None, notes: tuple[str, ...] = ()) -> Report:
    """Diagnose one or more ladders. Platforms given here override the detected ones."""
    chosen = tuple(reorient(ladder).with_platforms(caller_platform, callee_platform) for ladder in ladders)
    legs = b2bua_legs(chosen)
    findings = [replace(f, leg=legs[i].describe()) if i in legs else f
                for i, ladder in enumerate(chosen) for f in diagnose_ladder(ladder, i)]
    # Among warnings a partial trace leads: the outcome and the exit code then say "capture more".
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.code != INCONCLUSIVE))
    silent = [f"{ladder.name}: no SIP message in this call, nothing to diagnose"
              for i, ladder in enumerate(chosen) if not any(f.call == i for f in findings)]
    notes = (*notes, *silent)
    return Report(ladders=chosen, findings=tuple(findings), comparison=tuple(compare(chosen, findings)),
                  notes=notes)
