"""20 browser calls at once through the pod's rtpengine, with real parts: one headless Chromium
holding 20 peer connections (the fake microphone's tone on each), the signalling server, the
relay, and a SIPp peer that answers each call and echoes its RTP. Every call must connect, hear
its own tone back (the page -> relay -> peer -> relay -> page round trip), lose no packet, and
leave no session in rtpengine once hung up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from browser.chromium import Chromium
from browser.harness import MIC_HZ, SCENARIOS, Bench, Ports, running_bench
from browser.relay_config import relay_config
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.sipp import start_sipp

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLS = 20
HOLD_SECONDS = 6.0  # all calls up: how long the tones are measured

# The page's side of CALLS calls, the way call.js places one (non-trickle offer POSTed to
# /_gg/calls, the answer from the event socket), all at once; then, with every call up, each
# call's inbound audio: packets, losses, energy, and its loudest frequency (WebAudio). Bounded:
# a call not connected within `connectSeconds` counts as failed.
LOAD = """
(async ({calls, path, hzFrom, hzTo, holdSeconds, connectSeconds}) => {
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  const ctx = new AudioContext();
  await ctx.resume();
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function one(index) {
    const call = {index, events: [], error: ""};
    const pc = new RTCPeerConnection();
    call.pc = pc;
    mic.getAudioTracks().forEach((t) => pc.addTrack(t, mic));
    pc.ontrack = (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      call.player = new Audio();  // Chromium feeds WebAudio from a remote stream once it plays
      call.player.srcObject = stream;
      call.player.play().catch(() => {});
      call.analyser = ctx.createAnalyser();
      call.analyser.fftSize = 2048;
      ctx.createMediaStreamSource(stream).connect(call.analyser);
    };
    await pc.setLocalDescription(await pc.createOffer());
    const gathered = new Promise((r) => { pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === "complete") r(); }; });
    await Promise.race([gathered, sleep(3000)]);
    const reply = await fetch("/_gg/calls", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({path, sdp: pc.localDescription.sdp})});
    const body = await reply.json();
    if (!reply.ok) { call.error = `POST ${reply.status} ${JSON.stringify(body)}`; return call; }
    call.id = body.id;
    call.ws = new WebSocket(`ws://${location.host}/_gg/calls/${body.id}/events`);
    call.ws.onmessage = (m) => {
      const event = JSON.parse(m.data);
      call.events.push(event.type === "state" ? event.state : event.type);
      if (event.type === "answer") pc.setRemoteDescription({type: "answer", sdp: event.sdp});
    };
    const deadline = Date.now() + connectSeconds * 1000;
    while (Date.now() < deadline && !(call.events.includes("connected") && pc.connectionState === "connected")) {
      if (call.events.includes("ended")) break;
      await sleep(100);
    }
    call.connected = call.events.includes("connected") && pc.connectionState === "connected";
    if (!call.connected) call.error = `not connected: events ${call.events} ice ${pc.connectionState}`;
    return call;
  }
  async function inbound(call) {
    const stats = await call.pc.getStats();
    let found = {packets: 0, lost: -1, energy: 0};
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio")
        found = {packets: s.packetsReceived, lost: s.packetsLost, energy: s.totalAudioEnergy || 0};
    });
    return found;
  }
  function loudest(call) {  // the frequency (Hz) of the strongest bin between hzFrom and hzTo
    if (!call.analyser) return 0;
    const bins = new Float32Array(call.analyser.frequencyBinCount);
    call.analyser.getFloatFrequencyData(bins);
    const width = ctx.sampleRate / call.analyser.fftSize;
    let best = -Infinity, at = 0;
    for (let i = Math.ceil(hzFrom / width); i <= hzTo / width; i++) if (bins[i] > best) { best = bins[i]; at = i; }
    return Number.isFinite(best) ? Math.round(at * width) : 0;
  }
  const placed = await Promise.all(Array.from({length: calls}, (_, i) => one(i)));
  const before = await Promise.all(placed.map(inbound));
  const heard = placed.map(() => ({}));
  for (let t = 0; t < holdSeconds * 4; t++) {
    await sleep(250);
    placed.forEach((call, i) => { const hz = loudest(call); heard[i][hz] = (heard[i][hz] || 0) + 1; });
  }
  const after = await Promise.all(placed.map(inbound));
  for (const call of placed) {
    if (call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify({type: "hangup"}));
  }
  const ended = Date.now() + 15000;
  while (Date.now() < ended && placed.some((c) => c.id && !c.events.includes("ended"))) await sleep(100);
  placed.forEach((c) => c.pc.close());
  mic.getTracks().forEach((t) => t.stop());
  return placed.map((call, i) => ({
    index: i, connected: Boolean(call.connected), error: call.error, events: call.events,
    packets: after[i].packets - before[i].packets, lost: after[i].lost,
    energy: after[i].energy - before[i].energy,
    tone: Number(Object.entries(heard[i]).sort((a, b) => b[1] - a[1])[0][0]),
  }));
})(%s)
"""


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Bench]:
    ports = Ports()
    with running_bench(
        tmp_path_factory.mktemp("load"),
        ports,
        relay_config(ports, "load", {"load": {"port": ports.early}}, calls=CALLS),
        request.module.__name__,
    ) as bench:
        assert bench.relay is not None, "this test runs through rtpengine"
        yield bench


async def test_twenty_browser_calls_at_once_through_the_relay_lose_nothing(bench: Bench, browser: Chromium) -> None:
    assert bench.relay is not None
    peer = start_sipp(
        bench.root,
        SCENARIOS / "asterisk-180-no-sdp.xml",
        port=bench.ports.early,
        rtp_echo=True,
        calls=CALLS,
        run_seconds=120,
        extra=["-max_recv_loops", "10000"],
    )
    try:
        await browser.open(f"{bench.server.web_url}/call/load")
        spec = {
            "calls": CALLS,
            "path": "/call/load",
            "hzFrom": 300,
            "hzTo": 3000,
            "holdSeconds": HOLD_SECONDS,
            "connectSeconds": 40,
        }
        calls: list[dict[str, Any]] = await browser.eval(LOAD % json.dumps(spec), timeout=120)
        assert peer.process.wait(20) == 0, "SIPp did not see every call end with a BYE"
    finally:
        stop_process(peer.process)
    failed = [(c["index"], c["error"]) for c in calls if not c["connected"]]
    assert not failed, f"{len(failed)} of {CALLS} calls did not connect: {failed}"
    for call in calls:
        # 50 packets a second for HOLD_SECONDS: the echo of the page's own tone came back.
        assert call["packets"] >= HOLD_SECONDS * 50 * 0.8, call
        assert call["lost"] == 0, call
        assert call["energy"] > 0.01 and call["tone"] == pytest.approx(MIC_HZ, abs=25), call
        assert call["events"][-1] == "ended", call
    assert bench.relay.wait_no_sessions() == [], "rtpengine still holds sessions after the calls ended"
