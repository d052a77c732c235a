"""`guestgate explain-cause N`: a Q.850 cause, its RFC 3398 SIP mapping and how it misleads."""

from __future__ import annotations

import argparse
import sys

from guestgate.sip import q850


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cause", metavar="N", help="the Q.850 cause value, e.g. 65 (from Reason: Q.850;cause=65)")


def explain(value: int) -> str:
    cause = q850.lookup(value)
    if cause is None:
        return f"Q.850 cause {value}: not a cause this table knows (see ITU-T Q.850)\n"
    sip = f"SIP {cause.sip}" if cause.sip else "no SIP response (the call is cleared with BYE)"
    sip_from = sorted(code for code, mapped in q850.SIP_TO_CAUSE.items() if mapped == value)
    lines = [
        f"Q.850 cause {cause.value}: {cause.name}",
        f"  meaning: {cause.meaning}",
        f"  RFC 3398: a gateway maps this cause to {sip}",
    ]
    if sip_from:
        lines.append(f"  RFC 3398: gateways use it for SIP {', '.join(map(str, sip_from))}")
    for note in cause.misleading:
        lines.append(f"  misleading: {note}")
    if not cause.misleading:
        lines.append("  misleading: no known misleading use; still read the ladder around it")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    text = str(args.cause).strip()
    if not text.isdigit() or not 0 < int(text) < 128:
        print(f"guestgate explain-cause: {args.cause!r} is not a Q.850 cause value (1 to 127)", file=sys.stderr)
        return 2
    print(explain(int(text)), end="")
    return 0
