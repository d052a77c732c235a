"""The trunk side cannot make a pod act for it: a SIPp peer answers the pod's call, then sends,
from inside the call and from outside any dialog, a toll-fraud REFER, INVITEs with Replaces
(naming the live call) and Join, an INVITE of its own, SUBSCRIBE, MESSAGE, NOTIFY, PUBLISH and
an INFO that is no DTMF (tests/sip_scenarios/hostile-peer.xml). Each is refused with a fitting
status (SIPp fails on any other answer), counted and logged; no call is placed for the far side;
the pod keeps answering its peer's OPTIONS and places a normal call afterwards."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guestgate.config.schema import DestinationConfig, HealthCheckConfig, KeepaliveConfig, PeerConfig, TrunkProfile
from support.signal_helpers import SippFactory
from support.signal_server import SignalProcess, sip_exchange, sip_message, start_signal

REFUSED = {
    ("REFER", 403): 2,
    ("INVITE", 403): 2,  # Replaces, Join
    ("INVITE", 480): 1,  # the peer calling in
    ("SUBSCRIBE", 489): 2,
    ("MESSAGE", 405): 2,
    ("NOTIFY", 481): 2,
    ("PUBLISH", 405): 1,
    ("INFO", 415): 1,
}


def trunk(port: int, media_seconds: int = 30) -> TrunkProfile:
    """The hostile peer's call stays up (30 s of media wanted) until the peer's BYE ends it."""
    return TrunkProfile(
        id="gg/cucm",
        namespace="gg",
        name="cucm",
        peers=(PeerConfig(host="127.0.0.1", port=port),),
        keepalive=KeepaliveConfig(interval_seconds=0),
        health_check=HealthCheckConfig(
            destinations=(DestinationConfig(name="local", number="2001"),),
            timeout_seconds=40,
            min_media_seconds=media_seconds,
        ),
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[list[SignalProcess]]:
    started: list[SignalProcess] = []
    yield started
    for process in started:
        process.stop()


def refused(metrics: str) -> dict[tuple[str, int], float]:
    found = re.findall(r'guestgate_sip_requests_refused_total\{method="(\w+)",status="(\d+)"\} (\S+)', metrics)
    return {(method, int(status)): float(count) for method, status, count in found}


def wait_for(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def test_the_far_side_cannot_make_the_pod_act_for_it(
    server: list[SignalProcess], sipp: SippFactory, tmp_path: Path
) -> None:
    trace = tmp_path / "hostile.msg"
    hostile = sipp("hostile-peer", extra=("-trace_msg", "-message_file", str(trace)))
    pod = start_signal(tmp_path / "pod", [trunk(hostile.port)])
    server.append(pod)
    assert pod.request("GET", "/v1/status")[1]["sipGuard"] == "module"

    # The pod calls the peer (a health check); the peer answers and tries everything.
    status, result = pod.request("POST", "/v1/trunks/gg/cucm/health-check", {"destinations": ["local"]}, timeout=60)
    assert status == 200, result
    assert hostile.wait(20) == 0, f"SIPp saw another answer than the scenario's:\n{hostile.output()[-3000:]}"
    assert pod.alive(), pod.logs()[-3000:]

    # No call was placed for the far side: the only INVITE the peer ever got was the pod's own.
    messages = trace.read_text(errors="replace")
    received = re.findall(r"message received \[\d+\] bytes :\s*\n\s*(INVITE \S+) SIP/2\.0", messages)
    assert received == [received[0]] and "+1900" not in received[0], received
    # ... and pjsua holds no call slot once the pod's own call is over: the INVITEs with Replaces
    # or Join and the peer's own never became calls.
    slots = wait_for(lambda: (s := pod.request("GET", "/v1/status")[1]["callSlots"])["pjsua"] == 0 and s, 10)
    assert slots and slots["engine"] == 0, pod.request("GET", "/v1/status")[1]
    metrics = pod.request("GET", "/metrics", token=None)[1]
    assert refused(metrics) == REFUSED, metrics
    logs = pod.logs()
    assert "sip request refused method=REFER source=127.0.0.1:" in logs
    assert "status=403 why=transfers are not accepted" in logs

    # The pod still answers its peer's OPTIONS ...
    port = pod.sip_port
    reply = sip_exchange(port, sip_message("OPTIONS", port, hostile.port), "udp")
    assert reply and reply[-1].startswith(b"SIP/2.0 200"), reply

    # ... and places a normal call over the same trunk afterwards.
    clean = sipp("cube-reliable-183", rtp_echo=True)
    pod.write_trunks([trunk(clean.port, media_seconds=1)])
    assert wait_for(lambda: pod.request("GET", "/v1/trunks/gg/cucm")[1]["peers"][0]["peer"] == clean.peer, 10)
    status, result = pod.request("POST", "/v1/trunks/gg/cucm/health-check", {"destinations": ["local"]}, timeout=60)
    assert status == 200 and result["outcome"] == "OK", result
    assert pod.alive()
