"""Real calls made here with SIPp on 127.0.0.1, recorded with tcpdump (pcap) or tshark (pcapng):
the pcap importer must give the same findings as the caller's own SIPp message log.

Each call is a pair of SIPp scenarios of ours (tests/sip/scenarios): a caller that never sends
PRACK, like the CUCM of the field notes, and a CUBE-like callee. Ports are picked free for each
call so other suites on this machine cannot mix their packets into ours; everything is bounded by
timeouts.
"""

from __future__ import annotations

import io
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import dpkt
import pytest

from guestgate.sip.diagnosis import Report, diagnose
from guestgate.sip.importers import import_bytes, load_file
from guestgate_dev.support.ports import free_port_range
from guestgate_dev.support.sipp import sipp_command
from sip.sip_builder import _frame, rtp

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"


def _rtp_file(path: Path) -> None:
    """One second of PCMU silence for SIPp's play_pcap_audio (SIPp rewrites the addresses)."""
    buffer = io.BytesIO()
    writer = dpkt.pcap.Writer(buffer)
    for i in range(50):
        writer.writepkt(_frame(("10.0.0.1", 6000), ("10.0.0.2", 6002), rtp(i)), ts=1000 + i * 0.02)
    path.write_bytes(buffer.getvalue())


class Recorder:
    """tcpdump (pcap) or tshark (pcapng) on lo, filtered to our ports, stopped with SIGINT."""

    def __init__(self, tool: str, out: Path, ports: list[int]) -> None:
        capture_filter = "udp and (" + " or ".join(f"port {p}" for p in ports) + ")"
        if tool.startswith("tcpdump"):
            # "tcpdump-any" listens on every interface and writes Linux cooked (SLL2) frames
            interface = "any" if tool == "tcpdump-any" else "lo"
            command = ["tcpdump", "-i", interface, "-U", "--immediate-mode", "-Z", "root", "-w", str(out),
                       capture_filter]
            self.ready = "listening on"
        else:
            command = ["tshark", "-i", "lo", "-q", "-f", capture_filter, "-w", str(out)]
            self.ready = "Capturing on"
        self.log = out.with_suffix(".log")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + 15
        while self.ready not in self.log.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{tool} did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        time.sleep(0.5)  # let the last packets reach the capture
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass
class Recorded:
    capture: Path
    message_log: Path  # the caller's SIPp -trace_msg log: the text form of the same call
    sip_ports: tuple[int, int]  # the caller's and the callee's SIP ports


def place_call(tmp_path: Path, callee: str, *, echo: bool = True, tool: str = "tcpdump") -> Recorded:
    sip = free_port_range(2)
    caller_media, callee_media = free_port_range(4), free_port_range(4)
    _rtp_file(tmp_path / "rtp.pcap")
    capture = tmp_path / ("call.pcapng" if tool == "tshark" else "call.pcap")
    ports = [sip, sip + 1, *range(caller_media, caller_media + 4), *range(callee_media, callee_media + 4)]
    recorder = Recorder(tool, capture, ports)
    uas_command = sipp_command(SCENARIOS / callee, port=sip + 1, media_port=callee_media, calls=1, run_seconds=15,
                               rtp_echo=echo, messages=tmp_path / "callee.log", extra=["-timeout_error"])
    uac_command = sipp_command(SCENARIOS / "uac.xml", port=sip, media_port=caller_media, calls=1, run_seconds=15,
                               messages=tmp_path / "caller.log", extra=["-timeout_error", "-s", "00412256731"],
                               remote=f"127.0.0.1:{sip + 1}")
    uas = subprocess.Popen(uas_command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)  # the callee must listen before the INVITE goes out
        uac = subprocess.run(uac_command, cwd=tmp_path, capture_output=True, timeout=30, check=False)
        uas.wait(timeout=20)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait(timeout=5)
        recorder.stop()
    assert uac.returncode == 0, uac.stderr.decode(errors="replace")[-2000:]
    return Recorded(capture=capture, message_log=tmp_path / "caller.log", sip_ports=(sip, sip + 1))


def _shape(report: Report) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(f.code, f.severity, tuple(sorted(f.evidence_messages))) for f in report.findings]


CALLS = [
    pytest.param("uas-reliable-drop.xml", "tcpdump", "PRACK_MISSING",
                 id="field failure: reliable 183, no PRACK, BYE cause 65"),
    pytest.param("uas-answer.xml", "tcpdump", "OK", id="answered, RTP both ways, caller hangs up"),
    pytest.param("uas-busy.xml", "tshark", "BUSY", id="busy, recorded as pcapng by tshark"),
    pytest.param("uas-answer.xml", "tcpdump-any", "OK", id="answered, recorded on any interface (Linux cooked)"),
]


@pytest.mark.parametrize(("callee", "tool", "outcome"), CALLS)
def test_capture_and_text_give_the_same_findings(tmp_path: Path, callee: str, tool: str, outcome: str) -> None:
    recorded = place_call(tmp_path, callee, tool=tool)
    from_capture = load_file(recorded.capture, "pcap")
    from_text = load_file(recorded.message_log, "sip")
    assert from_capture.format == "pcap" and len(from_capture.ladders) == 1
    capture_ladder, text_ladder = from_capture.ladders[0], from_text.ladders[0]
    assert [m.message.start_line for m in capture_ladder.messages] == \
        [m.message.start_line for m in text_ladder.messages]
    assert [m.sender for m in capture_ladder.messages] == [m.sender for m in text_ladder.messages]
    capture_report, text_report = diagnose(from_capture.ladders), diagnose(from_text.ladders)
    assert capture_report.outcome == text_report.outcome == outcome
    assert _shape(capture_report) == _shape(text_report)
    if outcome == "PRACK_MISSING":
        finding = capture_report.findings[0]
        assert finding.cause is not None and finding.cause.q850 == 65 and finding.cause.misleading
        assert "SIP Rel1XX Options" in finding.fix.caller and "rel1xx" in finding.fix.callee
    if outcome == "OK":
        media = capture_ladder.media
        assert media is not None and media.from_caller and media.from_callee, "RTP each way is counted"


def test_capture_shows_one_way_audio_the_text_cannot(tmp_path: Path) -> None:
    recorded = place_call(tmp_path, "uas-answer.xml", echo=False)  # the callee sends no RTP back
    capture_report = diagnose(load_file(recorded.capture).ladders)
    text_report = diagnose(load_file(recorded.message_log).ladders)
    assert capture_report.outcome == "NO_MEDIA"
    media = capture_report.ladders[0].media
    assert media is not None and media.from_caller and media.from_callee == 0
    assert text_report.outcome == "OK"  # media is unknown in a message log, so never guessed


@pytest.mark.parametrize("form", [["-V"], ["-O", "sip"], ["-T", "json"]], ids=" ".join)
def test_tshark_output_of_a_real_call_gives_the_same_findings(tmp_path: Path, form: list[str]) -> None:
    """The field failure placed with SIPp, recorded with tcpdump, then printed by tshark itself in
    each form an engineer pastes: the same ladder and findings as the capture."""
    recorded = place_call(tmp_path, "uas-reliable-drop.xml")
    decode = [arg for port in recorded.sip_ports for arg in ("-d", f"udp.port=={port},sip")]
    printed = subprocess.run([shutil.which("tshark") or "/usr/bin/tshark", "-r", str(recorded.capture), *decode,
                              "-Y", "sip", *form], capture_output=True, timeout=120, check=True).stdout
    from_capture = load_file(recorded.capture)
    from_tshark = import_bytes(printed, "tshark output")
    assert from_tshark.format == ("tshark-json" if "json" in form else "tshark")
    capture_ladder, tshark_ladder = from_capture.ladders[0], from_tshark.ladders[0]
    assert [(m.message.start_line, m.sender, m.src, m.dst) for m in tshark_ladder.messages] == \
        [(m.message.start_line, m.sender, m.src, m.dst) for m in capture_ladder.messages]
    assert _shape(diagnose(from_tshark.ladders)) == _shape(diagnose([replace(capture_ladder, media=None)]))
