"""A diagnosis report for people (text), for programs (JSON) and its exit code (pure).

``render_text``: findings with their fixes first, then each ladder drawn as a sequence diagram.
``report_to_json``: the stable document of docs/diagnose-json.md. ``exit_code``: 0 no error
finding, 1 an error finding, 3 a call that could not be judged (a partial trace; 2 is for
unreadable input, decided by the command).
The SVG picture lives in sip.svg.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from guestgate.sip.diagnosis import Report
from guestgate.sip.findings import INCONCLUSIVE, Finding
from guestgate.sip.ladder import Ladder, LadderMessage, Party
from guestgate.sip.legs import b2bua_legs
from guestgate.sip.platforms import LABELS

JSON_VERSION = 1
LADDER_HEADERS = ("Require", "Supported", "RSeq", "RAck", "Reason")
_ARROW = 46  # width of an arrow in the text ladder


EXIT_ERROR = 1
EXIT_INCONCLUSIVE = 3  # 2 is unreadable input (the command's)


def exit_code(report: Report) -> int:
    """1 when a finding is an error, else 3 when a call could not be judged (partial trace), else 0."""
    if any(f.severity == "error" for f in report.findings):
        return EXIT_ERROR
    return EXIT_INCONCLUSIVE if any(f.code == INCONCLUSIVE for f in report.findings) else 0


def call_text(finding: Finding, report: Report) -> str:
    """Which call a finding is about: Call-ID, both ends, and the B2BUA leg when it is one."""
    ladder = report.ladders[finding.call]
    ends = " -> ".join(f"{party.address or 'address not in trace'} "
                       f"({LABELS.get(party.platform, party.platform)})"
                       for party in (ladder.caller, ladder.callee))
    leg = f"; {finding.leg}" if finding.leg else ""
    return f"Call-ID {finding.call_id or '(none)'}: {ends}{leg}"


def party_text(party: Party) -> str:
    parts = [party.address or "address not in trace", LABELS.get(party.platform, party.platform)]
    if party.product:
        parts.append(f'"{party.product}"')
    if party.recorded_here:
        parts.append("trace taken here")
    return f"{party.role} {parts[0]} ({', '.join(parts[1:])})"


def ladder_headers(item: LadderMessage) -> list[str]:
    """The headers that matter in a ladder line, then whether there is SDP."""
    shown = [text for name in LADDER_HEADERS if (text := item.message.shown(name))]
    shown.append("SDP" if item.message.sdp is not None else "no SDP")
    return shown


def _finding_text(finding: Finding, report: Report) -> list[str]:
    ladder = report.ladders[finding.call]
    where = f" (call {finding.call + 1}: {ladder.name})" if len(report.ladders) > 1 else ""
    lines = [f"[{finding.severity}] {finding.code}{where}", f"  call: {call_text(finding, report)}",
             f"  {finding.summary}"]
    if finding.code == INCONCLUSIVE:
        lines.append(f"  suspected: {finding.suspected or 'nothing specific'}")
    if finding.cause:
        cause = finding.cause
        sip = f", RFC 3398 maps it to SIP {cause.sip}" if cause.sip else ""
        lines.append(f"  cause: Q.850 {cause.q850} {cause.name!r} in #{cause.message} ({cause.header}){sip}")
        if cause.misleading:
            lines.append(f"  misleading: {cause.misleading}")
    if finding.evidence:
        lines.append("  evidence:")
        for item in finding.evidence:
            headers = f": {'; '.join(item.headers)}" if item.headers else ""
            note = f"  <- {item.note}" if item.note else ""
            lines.append(f"    #{item.message} {item.line}{headers}{note}")
    if finding.next_capture:
        lines.append("  next capture:")
        lines.extend(f"    - {step}" for step in finding.next_capture)
    caller = LABELS.get(finding.fix.caller_platform, finding.fix.caller_platform)
    callee = LABELS.get(finding.fix.callee_platform, finding.fix.callee_platform)
    lines.append(f"  fix on the caller ({caller}): {finding.fix.caller}")
    lines.append(f"  fix on the callee ({callee}): {finding.fix.callee}")
    return lines


def _arrow(item: LadderMessage) -> str:
    label = f" {item.message.summary} "
    room = _ARROW - 6
    if len(label) > room:
        label = label[: room - 4] + "... "
    if item.sender == "caller":
        return "|--" + label + "-" * (_ARROW - 4 - len(label)) + ">|"
    return "|<" + "-" * (_ARROW - 4 - len(label)) + label + "--|"


def render_ladder(ladder: Ladder, evidence: frozenset[int] = frozenset()) -> list[str]:
    start = next((m.time for m in ladder.messages if m.time is not None), None)
    lines = [f"ladder {ladder.name}: {party_text(ladder.caller)}  |  {party_text(ladder.callee)}",
             f"  {'#':>3} {'time':>8}   {'caller':<{_ARROW // 2}}{'callee':>{_ARROW // 2}}"]
    for item in ladder.messages:
        time = f"{item.time - start:8.3f}" if item.time is not None and start is not None else " " * 8
        mark = "*" if item.index in evidence else " "
        lines.append(f"  {item.index:>3} {time} {mark} {_arrow(item)}  {'; '.join(ladder_headers(item))}")
    return lines


def render_text(report: Report) -> str:
    code = exit_code(report)
    lines = [f"outcome: {report.outcome} (exit {code})"]
    for i, ladder in enumerate(report.ladders):
        name = f"call {i + 1}: {ladder.name}" if len(report.ladders) > 1 else ladder.name
        lines.append(f"{name}: {party_text(ladder.caller)}; {party_text(ladder.callee)}")
    lines.append("")
    for finding in report.findings:
        lines.extend(_finding_text(finding, report))
        lines.append("")
    if report.comparison:
        lines.append("comparison of the calls:")
        lines.extend(f"  {line}" for line in report.comparison)
        lines.append("")
    if report.notes:
        lines.append("notes on the input:")
        lines.extend(f"  {note}" for note in report.notes)
        lines.append("")
    for i, ladder in enumerate(report.ladders):
        evidence = frozenset().union(*(f.evidence_messages for f in report.findings if f.call == i))
        lines.extend(render_ladder(ladder, evidence))
        lines.append("")
    lines.append("(* marks the messages the findings cite)")
    return "\n".join(lines) + "\n"


def _party_json(party: Party) -> dict[str, Any]:
    return {"address": party.address, "product": party.product, "platform": party.platform,
            "recordedHere": party.recorded_here}


def _message_json(call: int, item: LadderMessage, evidence: frozenset[int]) -> dict[str, Any]:
    message = item.message
    audio = message.sdp.audio if message.sdp else None
    return {
        "call": call,
        "index": item.index,
        "time": item.time,
        "from": item.sender,
        "to": item.receiver,
        "src": item.src,
        "dst": item.dst,
        "transport": item.transport,
        "startLine": message.start_line,
        "method": message.method,
        "status": message.status,
        "cseq": message.header("CSeq"),
        "callId": message.call_id,
        "headers": [{"name": name, "value": value} for name, value in message.headers],
        "sdp": None if message.sdp is None else {
            "address": audio.address if audio else message.sdp.connection,
            "port": audio.port if audio else None,
            "codecs": list(audio.codecs) if audio else [],
            "direction": audio.direction if audio else None,
        },
        "evidence": item.index in evidence,
    }


def report_to_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-able dict with the stable keys of docs/diagnose-json.md."""
    ladder: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    legs = b2bua_legs(report.ladders)
    for i, item in enumerate(report.ladders):
        evidence = frozenset().union(*(f.evidence_messages for f in report.findings if f.call == i))
        ladder.extend(_message_json(i, m, evidence) for m in item.messages)
        media = item.media
        calls.append({
            "call": i, "name": item.name, "callId": item.call_id, "outcome": report.outcome_of(i),
            "b2bua": legs[i].to_dict() if i in legs else None,
            "caller": _party_json(item.caller), "callee": _party_json(item.callee),
            "media": None if media is None else {
                "fromCaller": media.from_caller, "fromCallee": media.from_callee,
                "earlyFromCallee": media.early_from_callee, "source": media.source},
        })
    return {
        "version": JSON_VERSION,
        "outcome": report.outcome,
        "exitCode": exit_code(report),
        "findings": [f.to_dict() for f in report.findings],
        "ladder": ladder,
        "calls": calls,
        "comparison": list(report.comparison),
        "notes": list(report.notes),
    }


def render_svg(report: Report) -> str:
    """The ladder picture (sip.svg), offered here so callers need one module for all outputs."""
    from guestgate.sip.svg import render_svg as draw  # svg builds on this module's helpers

    return draw(report)


def emit(report: Report, command: str, as_json: bool, svg_path: str | None) -> int:
    """Print a report as `guestgate diagnose` and `guestgate probe` both do; the exit code.

    2 when the SVG cannot be written (with one line on stderr), else 0 or 1 as exit_code() says.
    """
    if svg_path:
        try:
            Path(svg_path).write_text(render_svg(report), encoding="utf-8")
        except OSError as error:
            print(f"guestgate {command}: cannot write {svg_path}: {error.strerror or error}", file=sys.stderr)
            return 2
    if as_json:
        print(json.dumps(report_to_json(report), indent=2))
    else:
        text = render_text(report)
        print(text, end="" if text.endswith("\n") else "\n")
    return exit_code(report)
