"""`guestgate diagnose FILE...`: import traces, diagnose them, print findings and ladders.

Exit codes: 0 no error finding, 1 an error finding, 2 the input could not be read (the message
says which file and why; never a traceback), 3 no error finding but a call that could not be
judged (a partial trace: INCONCLUSIVE, with the capture to take next).
"""

from __future__ import annotations

import argparse
import sys

from guestgate.sip.importers import FORMATS, MAX_BYTES, Imported, InputError, import_bytes, load_file
from guestgate.sip.platforms import PLATFORMS

EXIT_UNREADABLE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="SIP traces: raw SIP text or a ticket pasting it, SIPp -trace_msg, Cisco IOS "
                             "'debug ccsip messages', CUCM SDL, Asterisk 'pjsip set logger', FreeSWITCH "
                             "siptrace, sngrep .txt, tshark -V/-O sip/-T json, HEPv3, pcap/pcapng; "
                             "- reads standard input")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="how to read the files (default: detected from the content)")
    parser.add_argument("--caller-platform", choices=PLATFORMS, default=None,
                        help="the caller's platform, when User-Agent/Server do not tell")
    parser.add_argument("--callee-platform", choices=PLATFORMS, default=None,
                        help="the callee's platform, when User-Agent/Server do not tell")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object {outcome, findings, ladder, ...} (docs/diagnose-json.md)")
    parser.add_argument("--svg", metavar="FILE", default=None,
                        help="also write the ladder as an SVG picture, evidence highlighted")


def _stdin(fmt: str) -> Imported:
    """``-`` reads the trace from standard input (``ssh router 'show logging' | guestgate diagnose -``)."""
    data = sys.stdin.buffer.read(MAX_BYTES + 1)  # one byte more than allowed is enough to refuse
    return import_bytes(data, "standard input", fmt)


def run(args: argparse.Namespace) -> int:
    # Imported here so `guestgate --help` stays fast.
    from guestgate.sip.diagnosis import diagnose
    from guestgate.sip.report import emit
    from guestgate.sip.segments import join_segments

    ladders = []
    notes: list[str] = []
    for name in args.files:
        try:
            imported = _stdin(args.format) if name == "-" else load_file(name, args.format)
        except InputError as error:
            print(f"guestgate diagnose: cannot read {error}", file=sys.stderr)
            return EXIT_UNREADABLE
        ladders.extend(imported.ladders)
        notes.extend(imported.notes)
    ladders, joined = join_segments(ladders)  # a call cut across ring-buffer files is one call
    notes.extend(joined)
    report = diagnose(ladders, caller_platform=args.caller_platform,
                      callee_platform=args.callee_platform, notes=tuple(notes))
    return emit(report, "diagnose", args.json, args.svg)
