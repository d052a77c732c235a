"""Each importer on captures written here the way the tool prints them (tests/sip/data/captures:
byte counts and Content-Length right, FreeSWITCH's indentation, tshark's trees, sngrep's export,
Asterisk's console), partial traces (no INVITE: INCONCLUSIVE with a suspicion and the capture to
take next), several calls in one file and the two legs of a B2BUA, each finding naming its call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from guestgate.sip.diagnosis import Report, diagnose
from guestgate.sip.importers import InputError, import_bytes
from guestgate.sip.report import exit_code, render_text, report_to_json
from sip.sip_builder import (
    ASTERISK,
    CUBE,
    CUCM,
    FREESWITCH,
    KAMAILIO,
    Call,
    as_freeswitch,
    as_hep_pcap,
    as_ios,
    as_pcap,
    as_sip,
    hep_packet,
)
from sip.test_catalogue import no_answer_480, prack_missing_asterisk_freeswitch_5xx, prack_missing_cucm_cube

CAPTURES = Path(__file__).parent / "data" / "captures"
TICKET = Path(__file__).parent / "data" / "ticket-lone-bye.txt"
CALL_ID = "7e1b2c80-9a3f1d22-4d1-a010a0a@10.10.1.10"


@dataclass(frozen=True)
class Capture:
    file: str
    detected: str
    callee_platform: str
    recorded: str | None  # the side the trace was taken on, when the format says
    timed: bool  # the format carries times
    skipped: str = ""  # words of the note on what was not SIP


TABLE = [
    Capture("freeswitch-siptrace.log", "freeswitch", "freeswitch", "callee", True, "2 lines are not SIP"),
    Capture("asterisk-console.txt", "asterisk", "asterisk", "callee", False, "lines are not SIP"),
    Capture("sngrep-export.txt", "sngrep", "freeswitch", None, True),
    Capture("tshark-V.txt", "tshark", "freeswitch", None, True),
    Capture("tshark-T-json.json", "tshark-json", "freeswitch", None, True),
]


@pytest.mark.parametrize("capture", TABLE, ids=[c.file for c in TABLE])
def test_each_importer_reads_its_capture(capture: Capture) -> None:
    imported = import_bytes((CAPTURES / capture.file).read_bytes(), capture.file)
    assert imported.format == capture.detected
    assert len(imported.ladders) == 1
    ladder = imported.ladders[0]
    assert [m.message.start_line for m in ladder.messages] == [
        "INVITE sip:1000@172.16.0.20:5060 SIP/2.0", "SIP/2.0 100 Trying", "SIP/2.0 486 Busy Here"]
    assert [m.sender for m in ladder.messages] == ["caller", "callee", "callee"]
    assert ladder.call_id == CALL_ID
    assert (ladder.caller.platform, ladder.callee.platform) == ("cucm", capture.callee_platform)
    assert (ladder.caller.address, ladder.callee.address) == ("10.10.1.10:5060", "172.16.0.20:5060")
    assert ladder.party("callee").recorded_here == (capture.recorded == "callee")
    times = [m.time for m in ladder.messages]
    if capture.timed:
        assert times[2] is not None and times[0] is not None and abs(times[2] - times[0] - 0.540035) < 1e-5
    invite = ladder.messages[0].message
    assert invite.sdp is not None and invite.sdp.audio is not None
    assert invite.sdp.audio.codecs == ("PCMU", "PCMA", "telephone-event") and invite.sdp.audio.port == 24580
    assert ladder.messages[2].message.q850_cause == 17
    if capture.skipped:
        assert any(capture.skipped in note for note in imported.notes), imported.notes
    report = diagnose(imported.ladders)
    assert report.outcome == "BUSY" and exit_code(report) == 0


def _wire(lines: list[str]) -> tuple[bytes, int]:
    """A message's lines as sent (CRLF), cut after its Content-Length of body; and that length."""
    blank = lines.index("")
    head = "".join(f"{line}\r\n" for line in lines[:blank]) + "\r\n"
    length = int(re.search(r"^Content-Length: (\d+)\r$", head, re.M).group(1))  # type: ignore[union-attr]
    body = "".join(f"{line}\r\n" for line in lines[blank + 1:]).encode()[:length]
    return head.encode() + body, length


@pytest.mark.parametrize(("name", "banner", "indent"), [
    ("freeswitch-siptrace.log", r"^(?:recv|send) (\d+) bytes (?:from|to) .*:\n   -{72}\n", 3),
    ("asterisk-console.txt", r"^<--- (?:Received|Transmitting) SIP \w+ \((\d+) bytes\) .* --->\n", 0),
])
def test_captures_byte_counts_are_right(name: str, banner: str, indent: int) -> None:
    """The fixtures are honest: each banner's byte count is the message's size on the wire, and each
    Content-Length the size of its body."""
    text = (CAPTURES / name).read_text()
    pieces = re.split(banner, text, flags=re.M)[1:]
    assert len(pieces) == 6  # three (size, message) pairs
    for size, block in zip(pieces[::2], pieces[1::2], strict=True):
        wire, length = _wire([line[indent:] for line in block.split("\n")])
        assert len(wire) == int(size)
        assert len(wire.split(b"\r\n\r\n", 1)[1]) == length


def test_freeswitch_any_indentation() -> None:
    call = prack_missing_asterisk_freeswitch_5xx()
    for indent in ("", " ", "   ", "\t", "        "):
        imported = import_bytes(as_freeswitch(call, indent=indent).encode(), "fs.log")
        assert imported.format == "freeswitch"
        assert len(imported.ladders[0].messages) == len(call.messages)
        assert diagnose(imported.ladders).outcome == "PRACK_MISSING", indent


def test_format_names_read_what_detection_reads() -> None:
    for capture in TABLE:
        data = (CAPTURES / capture.file).read_bytes()
        named = import_bytes(data, capture.file, capture.detected)
        assert [m.message.start_line for m in named.ladders[0].messages] == \
            [m.message.start_line for m in import_bytes(data, capture.file).ladders[0].messages]
    with pytest.raises(InputError, match="not readable as tshark JSON"):
        import_bytes((CAPTURES / "tshark-V.txt").read_bytes(), "trace", "tshark-json")
    with pytest.raises(InputError, match="HEP3"):
        import_bytes((CAPTURES / "tshark-V.txt").read_bytes(), "trace", "hep")


def test_hep_in_a_capture_keeps_the_original_addresses_and_times() -> None:
    call = prack_missing_cucm_cube()
    imported = import_bytes(as_hep_pcap(call), "homer.pcap")
    ladder = imported.ladders[0]
    assert (ladder.caller.address, ladder.callee.address) == (CUCM.address, CUBE.address)
    start = ladder.messages[0].time
    assert start is not None
    assert [round(m.time - start, 2) for m in ladder.messages if m.time] == \
        [round(s.time, 2) for s in call.messages]
    assert any("taken out of HEP packets" in note for note in imported.notes)
    assert any("carrying no SIP" in note for note in imported.notes)
    assert diagnose(imported.ladders).outcome == "PRACK_MISSING"


def test_hep_over_tcp_and_broken_hep_packets() -> None:
    from sip.test_parsing import _tcp_capture

    call = no_answer_480()
    stream = b"".join(hep_packet((CUCM.host, 5060), (CUBE.host, 5060), 1000.0 + s.time, s.text.encode(),
                                 compress=True) for s in call.messages)
    segments = [("out", 1, stream[:300]), ("out", 301, stream[300:])]
    imported = import_bytes(_tcp_capture(segments), "hep-tcp.pcap")
    assert len(imported.ladders[0].messages) == len(call.messages)
    assert diagnose(imported.ladders).outcome == "NO_ANSWER"
    broken = as_hep_pcap(call)
    damaged = broken.replace(b"HEP3\x00", b"HEP3\xff", 1)  # a packet announcing more than it holds
    notes = import_bytes(damaged, "damaged.pcap").notes
    assert any("could not be read" in note for note in notes)


# --- partial traces ----------------------------------------------------------------------------------

def _without_invite(call: Call, keep: slice) -> Call:
    call.messages = call.messages[keep]
    return call


def _lone_bye(ua_from: object, cause: int, duration: int | None) -> Call:
    call = Call(CUCM, CUBE, number="00412256731")
    stat = (f"P-RTP-Stat: PS=1600,OS=256000,PR=1600,OR=256000,PL=0,JI=0,LA=0,DU={duration}",) if duration else ()
    call.invite_via = call._via("caller")
    return call.request("BYE", "callee", extra=(f"Reason: Q.850;cause={cause}", *stat))


def _reinvite_then_bye() -> Call:
    call = Call(CUCM, ASTERISK, number="6001").invite().reply(100, "Trying").ringing().answer().ack().wait(60)
    call.request("INVITE", body=call.answer_sdp()).ok_to_last("INVITE")  # a re-INVITE (hold, codec change)
    call.request("ACK", cseq=call.last_cseq).wait(5).request("BYE").ok_to_last("BYE")
    return _without_invite(call, slice(5, None))


@dataclass(frozen=True)
class Partial:
    name: str
    build: Call
    suspected: str | None
    capture_words: tuple[str, ...]


PARTIALS = [
    Partial("the field notes' BYE: cause 65 at 34 s from a CUBE", _lone_bye(CUBE, 65, 34), "PRACK_MISSING",
            ("debug ccsip messages", "SDL trace", "Require: 100rel")),
    Partial("cause 65 an hour in is no PRACK timer", _lone_bye(CUBE, 65, 3600), "DROPPED_AFTER_ANSWER",
            ("debug ccsip messages",)),
    Partial("a normal BYE proves nothing wrong", _lone_bye(CUBE, 16, 120), None, ("from its INVITE",)),
    Partial("480 alone: nobody answered", _without_invite(no_answer_480(), slice(1, None)), "NO_ANSWER",
            ("sofia global siptrace on", "pjsip set logger on", "rang")),
    Partial("a reliable 183 and no PRACK", _without_invite(prack_missing_cucm_cube(), slice(1, 4)), "PRACK_MISSING",
            ("Enable SIP Call Processing Trace", "show logging")),
    Partial("500 with cause 47 after 32 s of 180s", _without_invite(prack_missing_asterisk_freeswitch_5xx(),
                                                                   slice(2, 5)), "PRACK_MISSING",
            ("sofia global siptrace on", "a reliable 180 Ringing")),  # the silent caller's platform is unknown
    Partial("only a re-INVITE and the BYE: the call was set up before the trace", _reinvite_then_bye(), None,
            ("pjsip set logger on",)),
    Partial("an unknown peer's 486", _without_invite(Call(KAMAILIO, KAMAILIO).invite().reply(486, "Busy Here"),
                                                      slice(1, None)), "BUSY", ("sngrep -O",)),
]


@pytest.mark.parametrize("case", PARTIALS, ids=[p.name for p in PARTIALS])
def test_partial_trace_is_inconclusive_never_ok(case: Partial) -> None:
    report = diagnose(import_bytes(as_sip(case.build).encode(), "partial.sip").ladders)
    assert report.outcome == "INCONCLUSIVE"
    assert exit_code(report) == 3
    finding = report.findings[0]
    assert finding.severity == "warning" and finding.suspected == case.suspected
    steps = "\n".join(finding.next_capture)
    for words in case.capture_words:
        assert words in steps or words in finding.summary, steps
    if case.suspected:
        assert case.suspected in finding.summary and finding.fix.caller.startswith("if the next capture confirms")
    assert finding.summary.endswith(".") and ". " not in finding.summary[:-1]


def test_ticket_with_a_lone_bye_gives_the_prack_hint_and_the_captures() -> None:
    imported = import_bytes(TICKET.read_bytes(), "ticket.txt")
    assert any("lines are not SIP and were skipped" in note for note in imported.notes)
    report = diagnose(imported.ladders)
    assert report.outcome == "INCONCLUSIVE" and exit_code(report) == 3
    finding = report.findings[0]
    assert finding.suspected == "PRACK_MISSING"
    assert "34.3 s into the call (P-RTP-Stat DU)" in finding.summary
    assert finding.cause is not None and finding.cause.q850 == 65
    assert finding.cause.misleading and "unacknowledged reliable 18x" in finding.cause.misleading
    # The BYE's sender hung up with the PRACK timer's cause: it is the callee, the CUBE; the other
    # side is a CUCM by its tag.
    ladder = report.ladders[0]
    assert (ladder.caller.platform, ladder.callee.platform) == ("cucm", "cube")
    assert [step.split(":", 1)[0] for step in finding.next_capture] == [
        "capture a failing call from its INVITE", "on the Cisco Unified CM", "on the Cisco CUBE"]
    assert '"Send PRACK for all 1xx Messages"' in finding.fix.caller
    text = render_text(report)
    assert text.startswith("outcome: INCONCLUSIVE (exit 3)")
    assert "suspected: PRACK_MISSING" in text and "next capture:" in text and "`debug ccsip messages`" in text
    document = report_to_json(report)
    assert document["exitCode"] == 3 and document["findings"][0]["nextCapture"] == list(finding.next_capture)


# --- several calls in one file ---------------------------------------------------------------------

def _provider() -> Call:
    from sip.sip_builder import Profile

    provider = Profile("provider", "SBC/7.2", "447578332431", "203.0.113.5", tag="prov-1")
    return Call(CUBE, provider, number="447578332431", call_id="leg-out-5f2a")


def test_two_legs_of_a_cube_are_named_in_text_and_json() -> None:
    leg_in = Call(CUCM, CUBE, number="00447578332431", call_id="leg-in-77c1").invite().reply(100, "Trying")
    leg_out = _provider().invite().reply(100, "Trying")
    leg_out.reply(486, "Busy Here", extra=("Reason: Q.850;cause=17",)).ack()
    leg_in.reply(486, "Busy Here", extra=("Reason: Q.850;cause=17",)).ack()
    debug = as_ios(leg_in, local="callee") + "\n" + as_ios(leg_out, local="caller")
    report = diagnose(import_bytes(debug.encode(), "cube-debug.txt").ladders)
    assert [f.code for f in report.findings] == ["BUSY", "BUSY"]
    legs = {f.call_id: f.leg for f in report.findings}
    assert legs == {"leg-in-77c1": "incoming leg of the B2BUA 10.10.1.1 (its outgoing leg is call 2)",
                    "leg-out-5f2a": "outgoing leg of the B2BUA 10.10.1.1 (its incoming leg is call 1)"}
    text = render_text(report)
    assert "call: Call-ID leg-in-77c1: 10.10.1.10:5060 (Cisco Unified CM) -> 10.10.1.1:5060 (Cisco CUBE); " \
           "incoming leg of the B2BUA 10.10.1.1" in text
    assert "call: Call-ID leg-out-5f2a: 10.10.1.1:5060 (Cisco CUBE) -> 203.0.113.5:5060 (unknown platform); " \
           "outgoing leg" in text
    document = report_to_json(report)
    assert [c["b2bua"] for c in document["calls"]] == [
        {"address": "10.10.1.1", "leg": "incoming", "otherCall": 1},
        {"address": "10.10.1.1", "leg": "outgoing", "otherCall": 0}]
    assert {f["callId"]: (f["callerAddress"], f["calleeAddress"]) for f in document["findings"]} == {
        "leg-in-77c1": ("10.10.1.10:5060", "10.10.1.1:5060"), "leg-out-5f2a": ("10.10.1.1:5060", "203.0.113.5:5060")}


def test_two_legs_in_a_capture_on_the_cube_link() -> None:
    """The same two legs as a pcap taken where both cross (the CUBE's interface): addresses, not a
    debug's point of view, say which box is the B2BUA."""
    leg_in = prack_missing_cucm_cube()
    leg_in.call_id = "leg-in-a1"
    for sent in leg_in.messages:
        sent.text = sent.text.replace(prack_missing_cucm_cube().call_id, "leg-in-a1")
    leg_out = _provider().invite().reply(100, "Trying").ringing().answer().ack().wait(34)
    leg_out.request("BYE", extra=("Reason: Q.850;cause=65",)).ok_to_last("BYE")
    capture = as_pcap(leg_in) + as_pcap(leg_out)[24:]
    report = diagnose(import_bytes(capture, "cube-link.pcap").ladders)
    by_call = {f.call_id: f for f in report.findings if f.severity != "info"}
    assert by_call["leg-in-a1"].code == "PRACK_MISSING"
    assert by_call["leg-in-a1"].leg == "incoming leg of the B2BUA 10.10.1.1 (its outgoing leg is call 2)"
    assert "outgoing leg of the B2BUA 10.10.1.1" in render_text(report)


def test_several_calls_in_one_capture_each_finding_names_its_call() -> None:
    first = Call(ASTERISK, FREESWITCH, number="1000", call_id="call-a").invite().reply(404, "Not Found").ack()
    second = prack_missing_cucm_cube()
    data = as_pcap(first)[:24] + as_pcap(first)[24:] + as_pcap(second)[24:]  # one pcap, two calls
    report: Report = diagnose(import_bytes(data, "two-calls.pcap").ladders)
    assert {(f.code, f.call_id, f.callee_address) for f in report.findings} >= {
        ("DESTINATION_NOT_FOUND", "call-a", FREESWITCH.address),
        ("PRACK_MISSING", second.call_id, CUBE.address)}
    assert all(f.leg is None for f in report.findings)  # two calls, not two legs of one
    assert "call: Call-ID call-a: 192.168.50.5:5060 (Asterisk) -> 172.16.0.20:5060 (FreeSWITCH)" in \
        render_text(report)


@pytest.mark.parametrize(("line", "reader", "expected"), [
    pytest.param("recv 900 bytes from udp/[2001:db8::5]:5060/7;comp=sigcomp at 10:00:00.123456:", "freeswitch",
                 (False, "[2001:db8::5]:5060", None, "udp", 36000.123456), id="FreeSWITCH IPv6, flow label, sigcomp"),
    pytest.param("send 1190 bytes to tcp/[10.0.0.1]:5061 at 23:59:59.000001:", "freeswitch",
                 (True, None, "10.0.0.1:5061", "tcp", 86399.000001), id="FreeSWITCH send over TCP"),
    pytest.param("[2026-09-30 12:44:01.123] VERBOSE[2211][C-00000007] res_pjsip_logger.c: <--- Received SIP "
                 "request (814 bytes) from UDP:[2001:db8::10]:5060 --->", "asterisk",
                 (False, "[2001:db8::10]:5060", None, "udp", None), id="Asterisk ISO stamp, IPv6"),
    pytest.param("[Sep 30 12:44:01] VERBOSE[2211] res_pjsip_logger.c: <--- Transmitting SIP response (532 bytes) "
                 "to TLS:10.10.1.10:5061 --->", "asterisk",
                 (True, None, "10.10.1.10:5061", "tls", None), id="Asterisk default stamp, TLS"),
    pytest.param("2026/09/30 12:43:26.123456 2001:db8::1:5060 -> 10.0.0.2:5080", "sngrep",
                 (None, "[2001:db8::1]:5060", "10.0.0.2:5080", None, None), id="sngrep IPv6 source"),
])
def test_banner_lines(line: str, reader: str, expected: tuple[object, ...]) -> None:
    from guestgate.sip.importers.text import BANNERS

    banner = BANNERS[reader](line)
    assert banner is not None
    local, src, dst, transport, time = expected
    assert (banner.local, banner.src, banner.dst, banner.transport) == (local, src, dst, transport)
    if time is not None:
        assert banner.time == pytest.approx(time)
    elif reader == "asterisk":
        assert banner.time is not None  # the log stamp, whichever form


def test_a_mail_thread_quoting_the_call_with_prose_between() -> None:
    """A ticket as mail clients quote it: every line of the trace behind "> " (a blank line just
    ">"), the sender's remarks between the messages, one remark glued under a message."""
    call = prack_missing_cucm_cube()
    parts = ["Hello support,", "", "the CUBE team sent us the trace below, can you have a look?", "",
             "On Mon, 30 Sep 2013 at 13:02, Voice Team wrote:"]
    for number, sent in enumerate(call.messages):
        lines = sent.text.split("\r\n")
        if number == 4:  # the ACK: a remark right under its last header, no blank line between
            lines = [*lines[:-2], "(the call connected here)"]
        parts += ["> " + line if line else ">" for line in lines]
        parts += [f"> -- message {number + 1} of {len(call.messages)} --", ">"]
    parts += ["", "Regards,", "Sam"]
    imported = import_bytes("\n".join(parts).encode(), "mail.txt")
    ladder = imported.ladders[0]
    assert [m.message.start_line for m in ladder.messages] == [s.text.split("\r\n", 1)[0] for s in call.messages]
    assert ladder.messages[0].message.sdp is not None and ladder.messages[2].message.rseq == 5461
    assert any("is not a header line, so the headers of the message" in note and "(the call connected" in note
               for note in imported.notes), imported.notes
    assert any("lines are not SIP and were skipped" in note for note in imported.notes)
    report = diagnose(imported.ladders)
    assert report.outcome == "PRACK_MISSING" and exit_code(report) == 1


def test_compressed_hep_cannot_inflate_past_the_trace_limit() -> None:
    """A small file of compressed HEP packets that would inflate to gigabytes is refused once the
    inflated total passes what a trace may hold (64 MiB), as one clear InputError."""
    start = b"OPTIONS sip:probe@10.0.0.2 SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"
    bomb = hep_packet(("10.0.0.1", 5060), ("10.0.0.2", 5060), 1000.0, start + b" " * 60_000, compress=True)
    assert len(bomb) < 400
    with pytest.raises(InputError, match="inflate to more than 64 MiB"):
        import_bytes(bomb * 1200, "bomb.hep")
    in_pcap = import_bytes(as_hep_pcap(no_answer_480()), "fine.pcap")  # a normal capture is untouched
    assert not any("could not be read" in note for note in in_pcap.notes)


def test_console_colours_are_taken_off() -> None:
    """fs_cli and `asterisk -r` colour their lines; a paste from the console keeps the escapes."""
    plain = as_freeswitch(prack_missing_asterisk_freeswitch_5xx())
    coloured = "".join(f"\x1b[0;36m{line}\x1b[0m\n" if line.startswith(("recv", "send")) else f"\x1b[32m{line}\n"
                       for line in plain.splitlines())
    imported = import_bytes(coloured.encode(), "fs_cli.txt")
    assert imported.format == "freeswitch"
    assert diagnose(imported.ladders).outcome == "PRACK_MISSING"
