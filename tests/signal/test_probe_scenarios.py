"""`guestgate probe` against SIPp peers playing real-world shapes: one row per catalogue code a
live call from GuestGate can produce, each asserting the outcome, the evidence and the fix.

PRACK_MISSING itself cannot come out of a live call: pjsip PRACKs every reliable 18x (see
docs/prack.md). Against the CUBE that would drop an unPRACKed call, GuestGate's default profile
therefore ends OK; the same failure one hop further (a CUCM that does not PRACK the CUBE behind
it) is PRACK_MISSING_DOWNSTREAM.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from guestgate_dev.support.sipp import Transport, sipp_command
from support.signal_helpers import REPO, ProbeRun, SippFactory, free_port, guestgate_env, run_probe

FAST = ("--media-seconds", "1", "--timeout", "4")


@dataclass(frozen=True)
class Case:
    name: str
    scenario: str
    outcome: str
    code: str  # the finding to look at (the outcome, or an info finding next to it)
    evidence: tuple[str, ...]  # text that must appear in that finding's evidence lines/headers
    fix_caller: str  # text in fix.caller ("" to skip)
    fix_callee: str  # text in fix.callee ("" to skip)
    args: tuple[str, ...] = ()
    rtp_echo: bool = False
    exit_code: int = 1
    transport: Transport = "udp"
    absent: tuple[str, ...] = field(default=())  # codes that must not be found


# fmt: off
CASES = [
    Case("cube reliable 183: GuestGate PRACKs, the call survives", "cube-reliable-183", "OK", "OK",
         ("200 OK",), "nothing to change", "", rtp_echo=True, exit_code=0, absent=("PRACK_MISSING",)),
    Case("cube reliable 183 over TCP", "cube-reliable-183", "OK", "OK", ("200 OK",), "", "",
         rtp_echo=True, exit_code=0, transport="tcp"),
    Case("cube with prack=require", "cube-reliable-183", "OK", "OK", ("200 OK",), "", "",
         args=("--prack", "require"), rtp_echo=True, exit_code=0),
    Case("cucm in front of a cube drops with cause 65", "cucm-over-cube", "PRACK_MISSING_DOWNSTREAM",
         "PRACK_MISSING_DOWNSTREAM", ("Reason: Q.850;cause=65",), "", "PRACK", rtp_echo=True),
    Case("cucm relays early media, then gives up with 503 cause 47", "cucm-183-then-503-cause47",
         "PRACK_MISSING_DOWNSTREAM", "PRACK_MISSING_DOWNSTREAM", ("Reason: Q.850;cause=47",), "", "Rel1XX"),
    Case("kamailio rejects with 433", "kamailio-433-rejected", "CALL_REJECTED", "CALL_REJECTED",
         ("433 Anonymity Disallowed",), "", ""),
    Case("asterisk 180 without SDP, local ringback auto", "asterisk-180-no-sdp", "OK", "OK", ("200 OK",),
         "", "", rtp_echo=True, exit_code=0, absent=("NO_RINGBACK",)),
    Case("asterisk 180 without SDP, local ringback never", "asterisk-180-no-sdp", "NO_RINGBACK", "NO_RINGBACK",
         ("180 Ringing",), "localRingback", "", args=("--local-ringback", "never"), rtp_echo=True, exit_code=0),
    Case("asterisk 180 with SDP is early media on 180", "asterisk-180-with-sdp", "OK", "EARLY_MEDIA_ON_180",
         ("180 Ringing",), "", "", args=("--disable-early-media-on-180",), rtp_echo=True, exit_code=0),
    Case("cube 420 when 100rel is required", "cube-420-100rel", "BAD_EXTENSION_100REL", "BAD_EXTENSION_100REL",
         ("Unsupported: 100rel",), "prack", "rel1xx", args=("--prack", "require")),
    Case("asterisk busy", "asterisk-486-busy", "BUSY", "BUSY", ("486 Busy Here",), "", "", exit_code=0),
    Case("cucm number not found", "cucm-404-not-found", "DESTINATION_NOT_FOUND", "DESTINATION_NOT_FOUND",
         ("404 Not Found",), "", ""),
    Case("cube unavailable with Retry-After", "cube-503-unavailable", "PEER_UNAVAILABLE", "PEER_UNAVAILABLE",
         ("Retry-After: 60",), "", ""),
    Case("cube codec mismatch", "cube-488-codec", "CODEC_MISMATCH", "CODEC_MISMATCH", ("488",), "codecs", "codec"),
    Case("cube session interval too small", "cube-422-min-se", "SESSION_INTERVAL_TOO_SMALL",
         "SESSION_INTERVAL_TOO_SMALL", ("Min-SE: 86400",), "sessionTimer", ""),
    Case("asterisk challenge without credentials", "asterisk-401-challenge", "AUTH_FAILED", "AUTH_FAILED",
         ("WWW-Authenticate",), "auth", ""),
    Case("freeswitch 480 no answer", "freeswitch-480-no-answer", "NO_ANSWER", "NO_ANSWER", ("480",), "", "",
         exit_code=0),
    Case("asterisk rings until the caller gives up", "asterisk-ringing-no-answer", "NO_ANSWER", "NO_ANSWER",
         ("CANCEL",), "", "", args=("--timeout", "2"), exit_code=0),
    Case("cube answers PRACK with 481", "cube-prack-481", "PRACK_UNANSWERED", "PRACK_UNANSWERED", ("481",), "", "",
         rtp_echo=True),
    Case("asterisk answers but no RTP flows", "asterisk-answer-no-rtp", "NO_MEDIA", "NO_MEDIA", ("200 OK",), "", ""),
    Case("freeswitch drops the call after answer", "freeswitch-dropped-after-answer", "DROPPED_AFTER_ANSWER",
         "DROPPED_AFTER_ANSWER", ("BYE",), "", "", args=("--media-seconds", "3"), rtp_echo=True),
]
# fmt: on


def _evidence_text(finding: dict[str, object]) -> str:
    parts: list[str] = []
    for item in finding["evidence"]:  # type: ignore[attr-defined]
        parts.append(str(item["line"]))
        parts.extend(str(h) for h in item["headers"])
        parts.append(str(item["note"]))
    return "\n".join(parts)


def check(run: ProbeRun, case: Case) -> None:
    assert run.stderr.count("Traceback") == 0, run.stderr[-3000:]
    report = run.report
    summary = f"outcome {report['outcome']}, exit {run.returncode}, findings {run.codes()}"
    assert report["outcome"] == case.outcome, summary
    assert run.returncode == case.exit_code, summary
    finding = run.finding(case.code)
    text = _evidence_text(finding)
    for expected in case.evidence:
        assert expected in text, f"{expected!r} not in evidence of {case.code}:\n{text}"
    fix = finding["fix"]
    assert fix["callerPlatform"] == "guestgate"
    if case.fix_caller:
        assert case.fix_caller.lower() in fix["caller"].lower(), fix
    if case.fix_callee:
        assert case.fix_callee.lower() in fix["callee"].lower(), fix
    for code in case.absent:
        assert code not in run.codes()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_probe_against_sipp(case: Case, sipp: SippFactory) -> None:
    peer = sipp(case.scenario, rtp_echo=case.rtp_echo, transport=case.transport)
    args = [*FAST, *case.args, "--peer", peer.peer, "--to", "4930901820", "--transport", case.transport]
    run = run_probe(*args)
    check(run, case)


def test_unreachable_peer_is_named() -> None:
    port = free_port()  # nothing listens there: ICMP port unreachable, or silence
    run = run_probe("--peer", f"127.0.0.1:{port}", "--to", "100", "--timeout", "3", "--media-seconds", "1")
    assert run.report["outcome"] == "PEER_UNREACHABLE", run.stdout[-3000:]
    assert run.returncode == 1
    finding = run.finding("PEER_UNREACHABLE")
    assert "INVITE" in _evidence_text(finding)
    assert "spec.peer" in finding["fix"]["caller"]


def test_unreachable_tcp_peer_is_named() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    run = run_probe("--peer", f"127.0.0.1:{port}", "--transport", "tcp", "--to", "100", "--timeout", "3")
    assert run.report["outcome"] == "PEER_UNREACHABLE", run.stdout[-3000:] + run.stderr[-2000:]


def test_two_destinations_are_compared(sipp: SippFactory) -> None:
    peer = sipp("cube-reliable-183", rtp_echo=True, calls=2)
    run = run_probe(*FAST, "--peer", peer.peer, "--to", "100", "--to", "0044123456")
    assert run.report["outcome"] == "OK", run.stdout[-3000:]
    assert len([f for f in run.report["findings"] if f["code"] == "OK"]) == 2


def test_bad_input_exits_2() -> None:
    run = run_probe("--peer", "nowhere", "--to", "100")
    assert run.returncode == 2
    assert "HOST:PORT" in run.stderr
    run = run_probe("--peer", "127.0.0.1:5060", "--to", "not a number!")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr


def test_probe_takes_the_profile_from_a_siptrunk_manifest(sipp: SippFactory, tmp_path: Path) -> None:
    """examples/siptrunk-cube.yaml, pointed at the SIPp CUBE: its codecs order reaches the INVITE."""
    peer = sipp("cube-reliable-183", rtp_echo=True)
    manifest = yaml.safe_load((REPO / "examples" / "siptrunk-cube.yaml").read_text())
    manifest["spec"]["peer"] = {"host": "127.0.0.1", "port": peer.port, "transport": "udp"}
    path = tmp_path / "trunk.yaml"
    path.write_text(yaml.safe_dump(manifest))
    run = run_probe("--trunk", str(path), "--to", "+447700900123", *FAST)
    assert run.report["outcome"] == "OK", run.stdout[-3000:] + run.stderr[-2000:]
    invite = next(m for m in run.report["ladder"] if m["method"] == "INVITE")
    codecs = [str(c).split("/")[0].upper() for c in invite["sdp"]["codecs"]]
    assert codecs[:2] == ["PCMA", "PCMU"] and "G722" not in codecs, invite["sdp"]


def test_probe_refuses_a_manifest_that_is_not_a_siptrunk(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("kind: GuestLink\nspec: {}\n")
    run = run_probe("--trunk", str(path), "--to", "100")
    assert run.returncode == 2 and "SipTrunk" in run.stderr


def test_the_cube_scenario_drops_a_caller_that_never_pracks(sipp: SippFactory, tmp_path: Path) -> None:
    """The same CUBE peer, called by a CUCM-like SIPp caller that does not PRACK: the field failure
    of the seed notes (BYE with cause 65 after the answer), named PRACK_MISSING by `diagnose`."""
    cube = sipp("cube-reliable-183")
    trace = tmp_path / "cucm-to-cube.log"
    caller = subprocess.run(
        sipp_command("uac-no-prack", port=free_port(), calls=1, run_seconds=15, messages=trace, remote=cube.peer),
        capture_output=True, timeout=30, check=False,
    )
    assert caller.returncode == 0, caller.stdout[-2000:]
    done = subprocess.run(
        [sys.executable, "-m", "guestgate", "diagnose", "--json", str(trace)],
        capture_output=True, text=True, timeout=60, env=guestgate_env(), check=False,
    )
    report = json.loads(done.stdout)
    assert report["outcome"] == "PRACK_MISSING", done.stdout[-3000:]
    finding = next(f for f in report["findings"] if f["code"] == "PRACK_MISSING")
    assert finding["cause"]["q850"] == 65 and finding["cause"]["misleading"]
    assert "PRACK" in finding["fix"]["caller"] and finding["fix"]["callerPlatform"] == "cucm"
