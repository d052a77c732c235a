"""The ladder as an SVG picture, evidence highlighted (pure: returns the document as text).

Hand-written SVG keeps the dependency list short; every string goes through ``escape`` so SIP
headers full of ``<sip:...>`` stay well-formed XML.
"""

from __future__ import annotations

import re
import textwrap
from xml.sax.saxutils import escape

from guestgate.sip.diagnosis import Report
from guestgate.sip.platforms import LABELS
from guestgate.sip.report import ladder_headers

WIDTH = 980
LEFT, RIGHT = 130, 570  # x of the caller's and the callee's lifelines
ROW = 34
HEAD = 84
EVIDENCE_COLOUR = "#c0392b"
PLAIN_COLOUR = "#2c3e50"


# XML 1.0 forbids most control characters even escaped; a damaged trace can carry any byte.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd]")


def _text(x: float, y: float, content: str, *, size: int = 12, anchor: str = "start",
          weight: str = "normal", colour: str = PLAIN_COLOUR) -> str:
    safe = escape(_NOT_XML.sub("?", content))
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-family="monospace" font-size="{size}" '
            f'text-anchor="{anchor}" font-weight="{weight}" fill="{colour}">{safe}</text>')


def render_svg(report: Report) -> str:
    parts: list[str] = []
    y = 30
    parts.append(_text(10, y, f"outcome: {report.outcome}", size=16, weight="bold"))
    for finding in report.findings:
        colour = EVIDENCE_COLOUR if finding.severity == "error" else PLAIN_COLOUR
        for line in textwrap.wrap(f"[{finding.severity}] {finding.code}: {finding.summary}", 128):
            y += 16
            parts.append(_text(10, y, line, colour=colour))
        y += 4
    y += 20
    for call, ladder in enumerate(report.ladders):
        evidence = frozenset().union(*(f.evidence_messages for f in report.findings if f.call == call))
        top = y + HEAD
        bottom = top + ROW * (len(ladder.messages) + 1)
        parts.append(_text(10, y + 22, ladder.name, size=14, weight="bold"))
        for x, party in ((LEFT, ladder.caller), (RIGHT, ladder.callee)):
            # role and address, then the platform: short lines that fit above the lifeline
            parts.append(_text(x, y + 48, f"{party.role} {party.address or ''}".strip(), anchor="middle",
                               weight="bold"))
            parts.append(_text(x, y + 64, LABELS.get(party.platform, party.platform)
                               + (" (trace taken here)" if party.recorded_here else ""), anchor="middle",
                               size=11))
        for x in (LEFT, RIGHT):
            parts.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#7f8c8d" '
                         'stroke-width="2"/>')
        for row, item in enumerate(ladder.messages, start=1):
            ay = top + ROW * row
            cited = item.index in evidence
            colour = EVIDENCE_COLOUR if cited else PLAIN_COLOUR
            start, end = (LEFT, RIGHT) if item.sender == "caller" else (RIGHT, LEFT)
            marker = "url(#arrow-evidence)" if cited else "url(#arrow)"
            parts.append(f'<g class="message{" evidence" if cited else ""}" data-index="{item.index}">')
            parts.append(f'<line x1="{start}" y1="{ay}" x2="{end}" y2="{ay}" stroke="{colour}" '
                         f'stroke-width="{3 if cited else 1.5}" marker-end="{marker}"/>')
            parts.append(_text((LEFT + RIGHT) / 2, ay - 6, f"#{item.index} {item.message.summary}"[:70],
                               anchor="middle", weight="bold" if cited else "normal", colour=colour))
            parts.append(_text(RIGHT + 12, ay + 4, "; ".join(ladder_headers(item))[:64], size=10,
                               colour=colour))
            parts.append("</g>")
        y = bottom + 30
    defs = "".join(
        f'<marker id="{name}" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto" '
        'markerUnits="userSpaceOnUse">'
        f'<path d="M0,0 L10,4 L0,8 z" fill="{colour}"/></marker>'
        for name, colour in (("arrow", PLAIN_COLOUR), ("arrow-evidence", EVIDENCE_COLOUR)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" '
            f'viewBox="0 0 {WIDTH} {y}"><defs>{defs}</defs>'
            f'<rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>\n')
