"""Codecs and DTMF of browser calls through the pod's rtpengine, with real parts: headless
Chromium, the relay, a pjsua2 phone that plays PHONE_HZ and reports what it heard and the digits
it got (with their method).

- An Opus-only page (the test takes every other codec out of Chromium's offer) against a trunk of
  PCMU only: rtpengine transcodes, tones are heard both ways.
- A page offering PCMU and PCMA against a trunk that prefers PCMA: the trunk's order wins, the
  codec passes through rtpengine untouched (nothing is transcoded).
- A trunk whose DTMF method is SIP INFO: the page's keypad digits reach the phone as SIP INFO.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from browser.chromium import Chromium
from browser.harness import ARTIFACTS, MIC_HZ, PHONE_HZ, Bench, Ports, running_bench, write_tone_wav
from browser.relay_config import relay_config
from guestgate.config import schema
from guestgate_dev.support.rtpengine import ng_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Chromium's audio codecs narrowed before the page's offer: every transceiver the page makes
# gets only the codecs named in window.GG_TEST_CODECS (telephone-event stays: DTMF needs it);
# the page's peer connections are kept in window.GG_TEST_PCS for the test to read.
KEEP_CODECS = """
window.GG_TEST_CODECS = %s;
window.GG_TEST_PCS = [];
const ggAddTrack = RTCPeerConnection.prototype.addTrack;
RTCPeerConnection.prototype.addTrack = function (track, ...streams) {
  const sender = ggAddTrack.call(this, track, ...streams);
  if (track.kind === "audio") {
    window.GG_TEST_PCS.push(this);
    const wanted = window.GG_TEST_CODECS.concat(["telephone-event"]);
    const codecs = RTCRtpReceiver.getCapabilities("audio").codecs
      .filter((c) => wanted.includes(c.mimeType.split("/")[1].toLowerCase()));
    this.getTransceivers().find((t) => t.sender === sender).setCodecPreferences(codecs);
  }
  return sender;
};
"""

# What the page receives: the codec of its inbound audio and the packets lost on the way.
INBOUND_AUDIO = """(async () => {
  const stats = await GG_TEST_PCS[GG_TEST_PCS.length - 1].getStats();
  let found = null;
  stats.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      const codec = s.codecId ? stats.get(s.codecId) : null;
      const name = codec ? codec.mimeType.toLowerCase() : "";
      found = {codec: name, packets: s.packetsReceived, lost: s.packetsLost, level: s.audioLevel};
    }
  });
  return found;
})()"""


def codecs_config(ports: Ports) -> schema.PublishedConfig:
    """Three trunks to the same phone: PCMU only; PCMA before PCMU; PCMU with SIP INFO digits."""
    trunks: dict[str, dict[str, Any]] = {
        "pcmu": {"port": ports.phone, "codecs": ("PCMU",)},
        "pcma-first": {"port": ports.phone, "codecs": ("PCMA", "PCMU")},
        "info": {"port": ports.phone, "codecs": ("PCMU",), "dtmf": "sip-info"},
    }
    return relay_config(ports, "codecs", trunks)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Bench]:
    ports = Ports()
    root = tmp_path_factory.mktemp("codecs")
    with running_bench(root, ports, codecs_config(ports), request.module.__name__, ring_ms=500) as bench:
        assert bench.relay is not None, "these tests run through rtpengine"
        yield bench


async def chromium_offering(bench: Bench, codecs: list[str]) -> Chromium:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chromium = Chromium(write_tone_wav(bench.root / "mic.wav", MIC_HZ), ARTIFACTS)
    await chromium.start()
    await chromium.send("Page.addScriptToEvaluateOnNewDocument", source=KEEP_CODECS % json.dumps(codecs))
    return chromium


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def opus_browser(bench: Bench) -> AsyncIterator[Chromium]:
    chromium = await chromium_offering(bench, ["opus"])
    try:
        yield chromium
    finally:
        await chromium.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def g711_browser(bench: Bench) -> AsyncIterator[Chromium]:
    chromium = await chromium_offering(bench, ["pcmu", "pcma"])
    try:
        yield chromium
    finally:
        await chromium.stop()


def transcoded_streams(bench: Bench) -> int:
    assert bench.relay is not None
    answer = ng_request(bench.relay.settings.ng_port, "statistics", timeout=2.0)
    assert answer is not None, "rtpengine did not answer 'statistics'"
    current: dict[str, Any] = answer["statistics"]["currentstatistics"]  # type: ignore[index]
    return int(current["transcodedmedia"])


async def connected_call(browser: Chromium, bench: Bench, link: str) -> dict[str, Any]:
    """Call `link`, wait until connected and the phone's tone is heard; the page's inbound audio."""
    await browser.open(f"{bench.server.web_url}/call/{link}")
    await browser.click("#call")
    await browser.wait_for("gg.state === 'connected'", 30)
    margin = await browser.tone_margin(PHONE_HZ, 440, seconds=3.0)
    assert margin > 10, f"the page does not hear the phone: {PHONE_HZ} Hz only {margin:.0f} dB above 440 Hz"
    inbound: dict[str, Any] = await browser.eval(INBOUND_AUDIO)
    assert inbound and inbound["packets"] > 50, inbound
    return inbound


async def hang_up_and_check_heard(browser: Chromium, bench: Bench) -> None:
    heard_before = len([e for e in bench.phone.events() if e["event"] == "heard"])
    await browser.click("#hangup")
    await browser.wait_for("gg.state === 'ended'", 15)
    heard = bench.phone.wait_event("heard", heard_before + 1)[-1]
    assert heard["dominant"] == MIC_HZ and heard["rms"] > 0.01, f"the phone did not hear the page: {heard}"


async def test_an_opus_only_page_reaches_a_pcmu_only_trunk_transcoded(bench: Bench, opus_browser: Chromium) -> None:
    inbound = await connected_call(opus_browser, bench, "pcmu")
    assert inbound["codec"] == "audio/opus", inbound
    assert transcoded_streams(bench) > 0, "rtpengine reports nothing transcoded"
    offer = await opus_browser.eval("GG_TEST_PCS[GG_TEST_PCS.length - 1].localDescription.sdp")
    assert "PCMU" not in offer and "opus/48000" in offer  # the page really offered Opus alone
    # RFC 4733 events go through the transcoding too (the page's telephone-event/48000 becomes
    # the trunk's telephone-event/8000).
    before = len([e for e in bench.phone.events() if e["event"] == "dtmf"])
    for digit in "27":
        await opus_browser.click(f"button[data-digit='{digit}']")
        await asyncio.sleep(0.3)
    dtmf = bench.phone.wait_event("dtmf", before + 2, timeout=10)[before:]
    assert [(e["digit"], e["method"]) for e in dtmf] == [("2", "rfc4733"), ("7", "rfc4733")]
    await hang_up_and_check_heard(opus_browser, bench)


async def test_the_trunks_codec_order_wins_and_a_shared_codec_passes_through(
    bench: Bench, g711_browser: Chromium
) -> None:
    """Chromium prefers PCMU to PCMA; the trunk prefers PCMA: the phone gets PCMA first and picks
    it, the page receives PCMA, and rtpengine relays it untouched."""
    inbound = await connected_call(g711_browser, bench, "pcma-first")
    assert inbound["codec"] == "audio/pcma", inbound
    assert transcoded_streams(bench) == 0, "a codec both sides share was transcoded"
    await hang_up_and_check_heard(g711_browser, bench)


async def test_a_codec_the_trunk_likes_less_passes_through_rather_than_one_it_prefers_transcoded(
    bench: Bench,
) -> None:
    """A PCMU-only page; the trunk prefers PCMA but takes PCMU: PCMU passes through (offering the
    phone PCMA transcoded too made it pick PCMA, transcoded both ways)."""
    pcmu_browser = await chromium_offering(bench, ["pcmu"])
    try:
        inbound = await connected_call(pcmu_browser, bench, "pcma-first")
        assert inbound["codec"] == "audio/pcmu", inbound
        assert transcoded_streams(bench) == 0, "PCMA was chosen and transcoded"
        await hang_up_and_check_heard(pcmu_browser, bench)
    finally:
        await pcmu_browser.stop()


async def test_keypad_digits_reach_the_phone_as_sip_info_on_a_relayed_call(
    bench: Bench, g711_browser: Chromium
) -> None:
    await connected_call(g711_browser, bench, "info")
    before = len([e for e in bench.phone.events() if e["event"] == "dtmf"])
    for digit in "4*9":
        await g711_browser.click(f"button[data-digit='{digit}']")
        await asyncio.sleep(0.3)
    dtmf = bench.phone.wait_event("dtmf", before + 3, timeout=10)[before:]
    assert [(e["digit"], e["method"]) for e in dtmf] == [("4", "sip-info"), ("*", "sip-info"), ("9", "sip-info")]
    await hang_up_and_check_heard(g711_browser, bench)
