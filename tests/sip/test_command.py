"""`guestgate diagnose` and `guestgate explain-cause` as a user runs them: a subprocess, its exit
code, its output. Unreadable input of every kind must give exit 2 and one clear line, never a
traceback.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import dpkt
import pytest

from sip.sip_builder import (
    CUBE,
    CUCM,
    Call,
    as_asterisk,
    as_freeswitch,
    as_hep,
    as_hep_pcap,
    as_pcap,
    as_sip,
    as_sngrep,
    as_tshark,
    as_tshark_json,
)
from sip.test_catalogue import ok_cucm_to_cube, prack_missing_cucm_cube

REPO = Path(__file__).resolve().parents[2]
SEED = Path(__file__).parent / "data" / "seed-prack-missing.sip"
SVG = "{http://www.w3.org/2000/svg}"


def guestgate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
    return subprocess.run([sys.executable, "-m", "guestgate", *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False, input=stdin)


def test_seed_field_failure_names_prack_and_both_fixes() -> None:
    result = guestgate("diagnose", str(SEED))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.startswith("outcome: PRACK_MISSING")
    assert "caller 10.10.1.10:5060 (Cisco Unified CM" in out and "callee 10.10.1.1:5060 (Cisco CUBE" in out
    assert "misleading: cause 65" in out and "RFC 3262" in out
    assert '"SIP Rel1XX Options" to "Send PRACK for all 1xx Messages"' in out
    assert 'voice-class sip rel1xx supported "100rel"' in out
    # the ladder: one arrow per message, the headers that matter
    assert "Require: 100rel; RSeq: 5461; SDP" in out
    assert "Reason: Q.850;cause=65; no SDP" in out


def test_standard_input() -> None:
    result = guestgate("diagnose", "-", stdin=SEED.read_text())
    assert result.returncode == 1 and result.stdout.startswith("outcome: PRACK_MISSING")
    empty = guestgate("diagnose", "-", stdin="")
    assert empty.returncode == 2
    assert empty.stderr == "guestgate diagnose: cannot read standard input: empty, nothing to diagnose\n"


def test_json_contract(tmp_path: Path) -> None:
    result = guestgate("diagnose", "--json", str(SEED))
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert {"outcome", "findings", "ladder", "calls", "comparison", "notes", "version", "exitCode"} <= set(document)
    assert document["outcome"] == "PRACK_MISSING"
    finding = document["findings"][0]
    assert set(finding) == {"code", "severity", "summary", "call", "callId", "callerAddress", "calleeAddress",
                            "leg", "evidence", "cause", "fix", "suspected", "nextCapture"}
    assert (finding["callId"], finding["callerAddress"], finding["calleeAddress"]) == (
        "fa88da80-24917212-28046-2212b0a@10.10.1.10", "10.10.1.10:5060", "10.10.1.1:5060")
    assert finding["leg"] is None and finding["suspected"] is None and finding["nextCapture"] == []
    assert document["calls"][0]["b2bua"] is None
    assert finding["cause"]["q850"] == 65 and finding["cause"]["sip"] == 488 and finding["cause"]["misleading"]
    assert set(finding["fix"]) == {"caller", "callee", "callerPlatform", "calleePlatform"}
    assert [m["from"] for m in document["ladder"]] == ["caller", "callee", "callee", "callee", "caller",
                                                       "callee", "caller"]
    assert document["ladder"][2]["evidence"] is True and document["ladder"][1]["evidence"] is False
    assert document["calls"][0]["caller"]["platform"] == "cucm"
    assert document["calls"][0]["callee"]["platform"] == "cube"


def test_platform_flags_override_detection() -> None:
    result = guestgate("diagnose", "--json", "--caller-platform", "guestgate", "--callee-platform", "asterisk",
                       str(SEED))
    fix = json.loads(result.stdout)["findings"][0]["fix"]
    assert "spec.prack: supported" in fix["caller"]
    assert "100rel = peer_supported" in fix["callee"]


def test_ok_call_exits_zero(tmp_path: Path) -> None:
    trace = tmp_path / "ok.sip"
    trace.write_text(as_sip(ok_cucm_to_cube()))
    result = guestgate("diagnose", str(trace))
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("outcome: OK (exit 0)")


def test_svg_is_well_formed_and_shows_every_message(tmp_path: Path) -> None:
    picture = tmp_path / "ladder.svg"
    result = guestgate("diagnose", "--svg", str(picture), str(SEED))
    assert result.returncode == 1
    root = ET.parse(picture).getroot()
    assert root.tag == f"{SVG}svg"
    groups = [g for g in root.iter(f"{SVG}g") if "message" in (g.get("class") or "")]
    assert len(groups) == 7
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for line in ("#0 INVITE sip:00412256731@10.10.1.1:5060", "#1 100 Trying", "#2 183 Session Progress",
                 "#3 200 OK", "#4 ACK sip:00412256731@10.10.1.1:5060", "#5 BYE sip:447578332431@10.10.1.10:5060",
                 "#6 200 OK"):
        assert line in texts
    cited = {g.get("data-index") for g in groups if "evidence" in (g.get("class") or "")}
    assert cited == {"0", "2", "3", "5"}  # INVITE, the reliable 183, the early 200, the BYE


def test_several_files_say_what_differs(tmp_path: Path) -> None:
    local = tmp_path / "local.sip"
    local.write_text(as_sip(Call(CUCM, CUBE, number="2001", call_id="local-1").invite().reply(100, "Trying")
                            .ringing().answer().ack().wait(5).request("BYE").ok_to_last("BYE")))
    international = tmp_path / "international.pcap"
    international.write_bytes(as_pcap(prack_missing_cucm_cube()))
    result = guestgate("diagnose", str(local), str(international))
    assert result.returncode == 1
    assert "comparison of the calls:" in result.stdout
    assert "the failing calls dial international numbers; the working calls dial internal numbers" in result.stdout
    assert "the failing calls got a reliable 18x (Require: 100rel); the working calls got no reliable 18x" \
        in result.stdout
    assert "look at the route of the failing calls (international numbers" in result.stdout


def test_explain_cause() -> None:
    result = guestgate("explain-cause", "65")
    assert result.returncode == 0
    assert result.stdout.startswith("Q.850 cause 65: Bearer capability not implemented")
    assert "SIP 488" in result.stdout and "PRACK" in result.stdout
    bad = guestgate("explain-cause", "sixty-five")
    assert bad.returncode == 2 and "not a Q.850 cause value" in bad.stderr and "Traceback" not in bad.stderr


def _pcapng(call: Call) -> bytes:
    buffer = io.BytesIO()
    writer = dpkt.pcapng.Writer(buffer)
    reader = dpkt.pcap.Reader(io.BytesIO(as_pcap(call)))
    for ts, frame in reader:
        writer.writepkt(frame, ts=ts)
    return buffer.getvalue()


def _huge(path: Path) -> None:
    with path.open("wb") as handle:  # sparse: big on paper, nothing on disk
        handle.truncate(65 * 1024 * 1024 + 1)


UNREADABLE: list[tuple[str, Callable[[Path], object], str]] = [
    ("garbage text", lambda p: p.write_text("hello\nthis is a shopping list\nmilk, eggs\n"), "no SIP message found"),
    ("binary noise", lambda p: p.write_bytes(random.Random(4).randbytes(8192)), "binary data"),
    ("empty file", lambda p: p.write_bytes(b""), "empty"),
    ("headers cut off",
     lambda p: p.write_text("INVITE sip:2001@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nCall-"),
     "ends inside the headers"),
    ("body cut off", lambda p: p.write_text(as_sip(ok_cucm_to_cube()).split("m=audio")[0]), "Content-Length"),
    ("start line only", lambda p: p.write_text("SIP/2.0 200 OK\r\n\r\n"), "has no Call-ID, CSeq"),
    ("pcap cut mid-packet", lambda p: p.write_bytes(as_pcap(ok_cucm_to_cube())[:-100]), "truncated"),
    ("pcap header only", lambda p: p.write_bytes(as_pcap(ok_cucm_to_cube())[:20]), "truncated"),
    ("pcapng cut mid-block", lambda p: p.write_bytes(_pcapng(ok_cucm_to_cube())[:-37]), "capture"),
    ("pcap without SIP", lambda p: p.write_bytes(as_pcap(Call(CUCM, CUBE))), "no SIP message found"),
    ("huge file", _huge, "more than the 64 MiB"),
    ("huge body announced", lambda p: p.write_text(
        "INVITE sip:a@b SIP/2.0\nCall-ID: 1\nCSeq: 1 INVITE\nContent-Length: 999999999\n\n" + "x" * 70_000 * 30),
     "announces Content-Length 999999999"),
    ("tshark JSON cut short", lambda p: p.write_text(as_tshark_json(ok_cucm_to_cube())[:-300]),
     "not readable as tshark JSON"),
    ("JSON that is no tshark export", lambda p: p.write_text('[{"_source": {"layers": 3}}, 7]'),
     "not a tshark -T json export"),
    ("HEP packets cut short", lambda p: p.write_bytes(as_hep(ok_cucm_to_cube())[:-40]), "cut short"),
    ("FreeSWITCH block cut in the body",
     lambda p: p.write_text(as_freeswitch(ok_cucm_to_cube()).split("a=rtpmap:8")[0]), "Content-Length"),
    ("tshark tree without start lines", lambda p: p.write_text(
        "Frame 1: 400 bytes on wire\nSession Initiation Protocol (INVITE)\n    Message Header\n"
        "        Call-ID: 1\n\n"), "no SIP message found"),
    ("too many messages", lambda p: p.write_text(
        "OPTIONS sip:b SIP/2.0\nCall-ID: 1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n" * 20_001),
     "more than 20000 SIP messages"),
]


@pytest.mark.parametrize(("make", "expected"), [pytest.param(m, e, id=n) for n, m, e in UNREADABLE])
def test_unreadable_input_exits_2_with_a_clear_message(tmp_path: Path, make: Callable[[Path], object],
                                                       expected: str) -> None:
    trace = tmp_path / "trace.bin"
    make(trace)
    result = guestgate("diagnose", str(trace))
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"guestgate diagnose: cannot read {trace}: ")
    assert expected in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(("fmt", "write", "outcome"), [
    pytest.param("freeswitch", lambda call: as_freeswitch(call).encode(), "PRACK_MISSING", id="freeswitch"),
    pytest.param("asterisk", lambda call: as_asterisk(call).encode(), "PRACK_MISSING", id="asterisk"),
    pytest.param("sngrep", lambda call: as_sngrep(call).encode(), "PRACK_MISSING", id="sngrep"),
    pytest.param("tshark", lambda call: as_tshark(call).encode(), "PRACK_MISSING", id="tshark"),
    pytest.param("tshark-json", lambda call: as_tshark_json(call).encode(), "PRACK_MISSING", id="tshark-json"),
    pytest.param("hep", as_hep, "PRACK_MISSING", id="hep"),
])
def test_format_names(tmp_path: Path, fmt: str, write: Callable[[Call], bytes], outcome: str) -> None:
    trace = tmp_path / "trace"
    trace.write_bytes(write(prack_missing_cucm_cube()))
    result = guestgate("diagnose", "--format", fmt, "--json", str(trace))
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["outcome"] == outcome


def test_ticket_paste_on_standard_input_is_inconclusive() -> None:
    result = guestgate("diagnose", "-", stdin=(Path(__file__).parent / "data" / "ticket-lone-bye.txt").read_text())
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("outcome: INCONCLUSIVE (exit 3)")
    assert "suspected: PRACK_MISSING" in result.stdout and "`debug ccsip messages`" in result.stdout
    assert "lines are not SIP and were skipped" in result.stdout


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param(["/nonexistent/trace.sip"], "no such file", id="missing file"),
    pytest.param(["/tmp"], "is a directory", id="directory"),
    pytest.param(["--format", "pcap", str(SEED)], "not a pcap or pcapng capture", id="text given as pcap"),
])
def test_bad_paths_and_formats_exit_2(args: list[str], expected: str) -> None:
    result = guestgate("diagnose", *args)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_ios_format_flag_reads_a_cube_debug(tmp_path: Path) -> None:
    from sip.sip_builder import as_ios

    trace = tmp_path / "cube-debug.txt"
    trace.write_text(as_ios(prack_missing_cucm_cube()))
    for fmt in ("auto", "ios"):
        result = guestgate("diagnose", "--format", fmt, "--json", str(trace))
        document = json.loads(result.stdout)
        assert document["outcome"] == "PRACK_MISSING"
        assert document["calls"][0]["callee"]["recordedHere"] is True


def test_mangled_traces_never_crash() -> None:
    """Cut, spliced and bit-flipped traces of every format: read with a note, or refused with
    InputError; never any other exception, in the diagnosis or in any output."""
    from guestgate.sip.diagnosis import diagnose
    from guestgate.sip.importers import InputError, import_bytes
    from guestgate.sip.report import render_svg, render_text, report_to_json
    from sip.sip_builder import as_ios, as_sipp

    rng = random.Random(2013)
    sources = [as_sip(prack_missing_cucm_cube()).encode(), as_sipp(ok_cucm_to_cube()).encode(),
               as_ios(prack_missing_cucm_cube()).encode(), as_pcap(ok_cucm_to_cube()), SEED.read_bytes(),
               as_freeswitch(prack_missing_cucm_cube()).encode(), as_asterisk(ok_cucm_to_cube()).encode(),
               as_sngrep(ok_cucm_to_cube()).encode(), as_tshark(prack_missing_cucm_cube()).encode(),
               as_tshark_json(ok_cucm_to_cube()).encode(), as_hep(prack_missing_cucm_cube()),
               as_hep_pcap(ok_cucm_to_cube()), (Path(__file__).parent / "data" / "ticket-lone-bye.txt").read_bytes()]
    outcomes = {"read": 0, "refused": 0}
    for _ in range(800):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(data))
            action = rng.choice(("cut", "flip", "splice", "drop"))
            if action == "cut":
                del data[where:]
            elif action == "flip" and data:
                data[where % len(data)] ^= 1 << rng.randrange(8)
            elif action == "splice":
                data[where:where] = rng.choice(sources)[: rng.randrange(400)]
            elif data:
                del data[where:where + rng.randrange(1, 200)]
            if not data:
                break
        try:
            imported = import_bytes(bytes(data), "mangled")
        except InputError as error:
            assert str(error).startswith("mangled")
            outcomes["refused"] += 1
            continue
        report = diagnose(imported.ladders)
        json.dumps(report_to_json(report))
        ET.fromstring(render_svg(report))
        assert render_text(report).startswith("outcome: ")
        outcomes["read"] += 1
    assert outcomes["read"] > 50 and outcomes["refused"] > 50, outcomes


def test_a_call_split_across_ring_buffer_files_is_one_call(tmp_path: Path) -> None:
    """tcpdump -C / tshark -b cut a call where a file filled up: given in any order, the pieces
    (same Call-ID, one after the other in time) are one call again, judged as a whole."""
    call = prack_missing_cucm_cube()
    head, tail = Call(CUCM, CUBE), Call(CUCM, CUBE)
    head.messages, tail.messages = call.messages[:3], call.messages[3:]
    first, second = tmp_path / "ring_00001.pcap", tmp_path / "ring_00002.pcap"
    first.write_bytes(as_pcap(head))
    second.write_bytes(as_pcap(tail))
    for order in ((first, second), (second, first)):
        result = guestgate("diagnose", "--json", *map(str, order))
        assert result.returncode == 1, result.stdout[-2000:]
        document = json.loads(result.stdout)
        assert document["outcome"] == "PRACK_MISSING" and len(document["calls"]) == 1
        assert [m["from"] for m in document["ladder"]] == ["caller", "callee", "callee", "callee", "caller",
                                                           "callee", "caller"]
        assert any("one call split across files" in note for note in document["notes"])
    # Both ends' captures of one call overlap in time: two views, never joined.
    (tmp_path / "copy.pcap").write_bytes(as_pcap(call))
    both = guestgate("diagnose", "--json", str(tmp_path / "copy.pcap"), str(first))
    assert len(json.loads(both.stdout)["calls"]) == 2
