"""Browser calls through the pod's rtpengine, checked on the wire: the trunk peer gets RTP from
the relay only, pjsua sends none of its own on a relayed call (a capture at the peer)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest

from browser.chromium import Chromium
from browser.harness import MIC_HZ, PHONE_HZ, SCENARIOS, Bench
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import start_relay
from guestgate_dev.support.sipp import Sipp, start_sipp

pytestmark = pytest.mark.asyncio(loop_scope="module")


def udp_sources(pcap: Path, dport: int) -> Counter[int]:
    """Source ports of the UDP datagrams to 127.0.0.1:dport in a loopback capture."""
    seen: Counter[int] = Counter()
    with pcap.open("rb") as source:
        for _ts, frame in dpkt.pcap.Reader(source):
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP) and ip.data.dport == dport:
                seen[ip.data.sport] += 1
    return seen


def start_capture(pcap: Path, *ports: int) -> subprocess.Popen[bytes]:
    expression = " or ".join(f"udp dst port {port}" for port in ports)
    process = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-n", "-U", "-w", str(pcap), expression],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    line = process.stderr.readline()  # "listening on lo ...": the capture runs
    assert b"listening" in line, line
    return process


async def test_the_trunk_peer_gets_rtp_from_the_relay_only(bench: Bench, browser: Chromium) -> None:
    assert bench.relay is not None
    peer = start_sipp(bench.root, SCENARIOS / "asterisk-180-no-sdp.xml", port=bench.ports.early, rtp_echo=True,
                      run_seconds=120)
    sipp, media = peer.process, peer.media_port
    pcap = bench.root / "relayed-call.pcap"
    capture = start_capture(pcap, media, media + 1)
    try:
        await browser.open(f"{bench.server.web_url}/call/echo")
        await browser.call()
        # The peer echoes what reaches it: the page hears its own microphone back.
        margin = await browser.tone_margin(MIC_HZ, PHONE_HZ, seconds=3.0)
        assert margin > 10, f"no echo heard through the relay: {MIC_HZ} Hz only {margin:.0f} dB above {PHONE_HZ} Hz"
        await browser.hang_up()
        assert sipp.wait(15) == 0
    finally:
        stop_process(sipp)
        time.sleep(0.5)
        capture.terminate()
        capture.wait(10)
    relay_ports = range(bench.relay.settings.port_min, bench.relay.settings.port_max + 1)
    rtp, rtcp = udp_sources(pcap, media), udp_sources(pcap, media + 1)
    assert sum(rtp.values()) > 50, f"too little RTP reached the peer: {rtp}"
    assert all(port in relay_ports for port in rtp), f"RTP from outside the relay's ports: {rtp}"
    # pjsua's stream never transmits RTP (its encoder is paused before it joins the bridge). Its
    # RTCP port still sends the stream's opening report and, at times, a closing BYE (2.15 never
    # honours rtcpSdesByeDisabled; 2.17 mostly does): at most those two datagrams, no media.
    foreign_rtcp = sum(n for port, n in rtcp.items() if port not in relay_ports)
    assert foreign_rtcp <= 2, f"RTCP from outside the relay: {rtcp}"

VIDEO_PLAYING = """(() => {
  const v = document.getElementById(%r);
  return Boolean(v && v.srcObject && v.videoWidth > 0 && v.currentTime > 0.5);
})()"""


@contextlib.contextmanager
def video_endpoint(bench: Bench) -> Iterator[Sipp]:
    """SIPp echoing audio and VP8 video, stopped on the way out."""
    peer = start_sipp(bench.root, Path(__file__).parent / "scenarios" / "video-echo.xml", port=bench.ports.early,
                      rtp_echo=True, run_seconds=120)
    try:
        yield peer
    finally:
        stop_process(peer.process)


async def test_video_is_relayed_untouched_with_self_view_and_camera_toggle(bench: Bench, browser: Chromium) -> None:
    """A video endpoint (SIPp echoing audio and VP8 video) and a link whose policy is sendrecv:
    the page sends its camera, decodes the echoed frames, shows its self view, and the camera
    button stops sending."""
    with video_endpoint(bench) as peer:
        await browser.open(f"{bench.server.web_url}/call/video")
        await browser.call()
        await browser.wait_for(VIDEO_PLAYING % "self-view", 15)
        await browser.wait_for(VIDEO_PLAYING % "remote-video", 20)  # our own frames, echoed by the peer
        await browser.screenshot("video-connected")
        assert await browser.eval("document.getElementById('camera').hidden") is False
        await browser.click("#camera")
        assert await browser.eval("document.getElementById('camera').getAttribute('aria-pressed')") == "false"
        answer = await browser.eval("gg.events.find((e) => e.type === 'answer').sdp")
        assert "m=video" in answer and "VP8/90000" in answer
        await browser.hang_up()
        assert peer.process.wait(15) == 0


async def test_recvonly_video_asks_for_no_camera(bench: Bench, browser: Chromium) -> None:
    with video_endpoint(bench) as peer:
        await browser.open(f"{bench.server.web_url}/call/watch")
        await browser.call()
        answer = await browser.eval("gg.events.find((e) => e.type === 'answer').sdp")
        video = answer.split("m=video", 1)[1]
        assert "a=sendonly" in video, answer  # the far end may send, the visitor sends nothing
        assert await browser.eval("document.getElementById('camera').hidden") is True
        assert await browser.eval("document.getElementById('self-view').srcObject") is None
        await browser.hang_up()
        assert peer.process.wait(15) == 0


async def test_a_relay_killed_mid_call_ends_it_clearly_and_the_pod_recovers(bench: Bench, browser: Chromium) -> None:
    """rtpengine dies during a call: the page is told the audio connection was lost, the far end
    gets a BYE, and once rtpengine is back the next call works (the pod was never restarted)."""
    assert bench.relay is not None
    peer = start_sipp(bench.root, SCENARIOS / "asterisk-180-no-sdp.xml", port=bench.ports.early, rtp_echo=True,
                      calls=2, run_seconds=120)
    try:
        await browser.open(f"{bench.server.web_url}/call/echo")
        await browser.call()
        bench.relay.process.kill()
        bench.relay.process.wait(10)
        await browser.wait_for("gg.state === 'ended'", 15)
        assert "audio connection was lost" in await browser.eval("document.getElementById('reason').innerText")
        await browser.screenshot("relay-lost")
        bench.relay = start_relay(bench.relay.log, bench.relay.settings)
        await browser.call()
        margin = await browser.tone_margin(MIC_HZ, PHONE_HZ, seconds=2.0)
        assert margin > 10, f"no echo through the restarted relay: {margin:.0f} dB"
        await browser.hang_up()
        assert peer.process.wait(15) == 0, "SIPp did not see both calls end with a BYE"
    finally:
        stop_process(peer.process)
