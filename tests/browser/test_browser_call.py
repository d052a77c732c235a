"""A visitor's call from headless Chromium through the link page to a phone and to SIPp peers.

The fake microphone plays MIC_HZ; the phone plays PHONE_HZ. Each state of the page is
screenshotted to tests/artifacts/browser/ and checked for its text.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from browser.chromium import Chromium
from browser.harness import MIC_HZ, PHONE_HZ, Bench, start_sipp, write_rtp_tone_pcap
from guestgate_dev.support.process import stop_process

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def snap(browser: Chromium, name: str, expected: str) -> None:
    """Screenshot of the page in a state, and the state text the visitor reads in it."""
    text = await browser.state_text()
    await browser.screenshot(name)
    assert expected in text, f"{name}: state line is {text!r}"


async def test_call_rings_connects_carries_audio_both_ways_sends_dtmf_and_hangs_up(
    bench: Bench, browser: Chromium
) -> None:
    await browser.open(f"{bench.server.web_url}/call/phone")
    assert await browser.eval("document.getElementById('name').innerText") == "Call phone"
    await snap(browser, "phone-1-idle", "Ready to call")
    await browser.click("#call")
    await browser.wait_for("gg.state === 'ringing'", 15)
    await snap(browser, "phone-2-ringing", "Ringing")
    # The phone sends 180 without SDP: GuestGate plays local ringback (440+480 Hz) to the page.
    margin = await browser.tone_margin(440, PHONE_HZ, seconds=1.5)
    assert margin > 20, f"no local ringback in the page: 440 Hz only {margin:.0f} dB above {PHONE_HZ} Hz"
    await browser.wait_for("gg.state === 'connected'", 15)
    await snap(browser, "phone-3-connected", "Connected")
    assert re.search(r"\d+:\d\d", await browser.state_text())  # the call timer runs
    margin = await browser.tone_margin(PHONE_HZ, 440, seconds=2.5)
    assert margin > 10, f"the page does not hear the phone: {PHONE_HZ} Hz only {margin:.0f} dB above 440 Hz"
    assert await browser.eval("gg.micLevel") > 0.01  # the level meter sees the microphone
    for digit in "15#":
        await browser.click(f"button[data-digit='{digit}']")
        await asyncio.sleep(0.3)
    dtmf = bench.phone.wait_event("dtmf", 3, timeout=10)
    assert [(e["digit"], e["method"]) for e in dtmf[-3:]] == [("1", "rfc4733"), ("5", "rfc4733"), ("#", "rfc4733")]
    # The microphone list is filled once the visitor allowed the microphone; choosing another
    # one during the call swaps the track without dropping the call.
    mics = await browser.eval("Array.from(document.querySelectorAll('#mic option')).map(o => o.value)")
    assert len(mics) >= 2, mics
    await browser.eval(
        "(() => { const m = document.getElementById('mic'); m.value = m.options[m.options.length - 1].value;"
        " m.dispatchEvent(new Event('change')); })()"
    )
    await asyncio.sleep(1.0)
    assert await browser.eval("document.getElementById('detail').innerText") == ""
    assert await browser.eval("gg.state") == "connected" and await browser.eval("gg.micLevel") > 0.01
    # Mute: the phone hears silence from then on.
    await browser.click("#mute")
    assert await browser.eval("document.getElementById('mute').getAttribute('aria-pressed')") == "true"
    await asyncio.sleep(2.0)
    await browser.click("#hangup")
    await browser.wait_for("gg.state === 'ended'", 10)
    await snap(browser, "phone-4-ended", "Call ended")
    assert "You ended the call" in await browser.eval("document.getElementById('reason').innerText")
    bench.phone.wait_event("bye-received")
    heard = bench.phone.wait_event("heard")[-1]
    assert heard["dominant"] == MIC_HZ and heard["rms"] > 0.01, heard
    assert max(heard["levels"][-2:]) < heard["rms"] / 10, f"still heard the caller after Mute: {heard['levels']}"
    incoming = bench.phone.wait_event("incoming")[-1]
    assert incoming["number"] == "2001"


async def test_a_peer_that_never_answers_stays_connecting_until_the_visitor_hangs_up(
    bench: Bench, browser: Chromium
) -> None:
    await browser.open(f"{bench.server.web_url}/call/silent")
    await browser.click("#call")
    await browser.wait_for("gg.events.length > 0", 15)  # the call was accepted and placed
    await snap(browser, "silent-1-connecting", "Connecting")
    assert await browser.eval("document.getElementById('hangup').disabled") is False
    await browser.click("#hangup")
    await browser.wait_for("gg.state === 'ended'", 10)
    await snap(browser, "silent-2-ended", "Call ended")
    assert "You ended the call" in await browser.eval("document.getElementById('reason').innerText")


async def test_a_link_with_auto_call_calls_without_a_click(bench: Bench, browser: Chromium) -> None:
    await browser.open(f"{bench.server.web_url}/call/auto")
    await browser.wait_for("gg.events.length > 0", 15)  # placed by itself after autoCallAfterSeconds
    assert await browser.eval("gg.state") == "connecting"
    await browser.click("#hangup")
    await browser.wait_for("gg.state === 'ended'", 10)


async def test_early_media_of_a_183_with_sdp_is_relayed_instead_of_local_ringback(
    bench: Bench, browser: Chromium
) -> None:
    write_rtp_tone_pcap(bench.root / "tone-1000.pcap", 1000, 4.0)  # the announcement SIPp plays
    log = bench.root / "sipp-early.log"
    sipp = start_sipp("early-media-183", bench.ports.early, log)
    try:
        await browser.open(f"{bench.server.web_url}/call/early")
        await browser.click("#call")
        await browser.wait_for("gg.state === 'ringing'", 15)
        margin = await browser.tone_margin(1000, 440, seconds=2.0)
        assert margin > 10, f"the far end's early media is not heard: 1000 Hz only {margin:.0f} dB above 440 Hz"
        await snap(browser, "early-media-ringing", "Ringing")
        await browser.wait_for("gg.state === 'connected'", 10)
        await browser.click("#hangup")
        await browser.wait_for("gg.state === 'ended'", 10)
        assert sipp.wait(15) == 0, log.read_text(errors="replace")[-2000:]
    finally:
        stop_process(sipp)


async def test_cube_reliable_183_with_sdp_connects_because_guestgate_pracks(bench: Bench, browser: Chromium) -> None:
    log = bench.root / "sipp-cube.log"
    sipp = start_sipp("cube-reliable-183", bench.ports.cube, log)
    try:
        await browser.open(f"{bench.server.web_url}/call/cube")
        await browser.click("#call")
        await browser.wait_for("gg.state === 'connected'", 15)
        # Without the PRACK the CUBE clears the call 300 ms after answering with cause 65.
        await asyncio.sleep(1.5)
        await snap(browser, "cube-connected", "Connected")
        await browser.click("#hangup")
        await browser.wait_for("gg.state === 'ended'", 10)
        assert sipp.wait(15) == 0, log.read_text(errors="replace")[-2000:]
        trace = log.with_suffix(".msg").read_text(errors="replace")
        assert re.search(r"^PRACK sip:", trace, re.MULTILINE), "GuestGate sent no PRACK"
        assert "cause=65" not in trace
    finally:
        stop_process(sipp)


async def test_cucm_dropping_the_call_with_cause_65_is_explained_to_the_visitor(
    bench: Bench, browser: Chromium
) -> None:
    log = bench.root / "sipp-cucm.log"
    sipp = start_sipp("cucm-over-cube", bench.ports.cucm, log)
    try:
        await browser.open(f"{bench.server.web_url}/call/cucm")
        await browser.click("#call")
        await browser.wait_for("gg.state === 'ended'", 20)
        await snap(browser, "cucm-ended-cause-65", "Call ended")
        reason = await browser.eval("document.getElementById('reason').innerText")
        detail = await browser.eval("document.getElementById('detail').innerText")
        assert "dropped by the phone network" in reason
        assert "Q.850 cause 65" in detail
        assert any(e.get("state") == "connected" for e in await browser.eval("gg.events"))
        assert sipp.wait(15) == 0
    finally:
        stop_process(sipp)


REFUSED_PAGES = [
    # path, HTTP status, what the page says
    ("/call/nobody", 404, "does not exist"),
    ("/call/old", 403, "switched off"),
    ("/call/later", 410, "not open yet"),
    ("/call/over", 410, "expired"),
    ("/call/vip", 403, "needs a valid invitation"),
]


@pytest.mark.parametrize(("path", "status", "text"), REFUSED_PAGES, ids=[p[0] for p in REFUSED_PAGES])
async def test_refused_links_get_a_friendly_page(
    bench: Bench, browser: Chromium, path: str, status: int, text: str
) -> None:
    await browser.open(f"{bench.server.web_url}{path}")
    assert await browser.eval("document.body.dataset.status") == str(status)
    await snap(browser, f"refused-{status}-{path.rsplit('/', 1)[1]}", text)
