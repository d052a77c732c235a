"""A relayed browser call (the media relay carries the media) with a fake engine and a fake relay:
what goes to the relay and the trunk, what the page is told, and that every way a call ends
deletes the relay's session."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from guestgate.engine.calls import CallEvent
from guestgate.web import metrics
from guestgate.web.session import BadOffer, BrowserCall, RelayUnavailable, watch_relay
from web.test_session import LINK, OFFER, FakeEngine, FakeRelay, profile, settle

FAR = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"


async def placed(relay: FakeRelay, **early: Any) -> tuple[FakeEngine, BrowserCall]:
    engine = FakeEngine()
    call = BrowserCall(engine, LINK, profile(**early), "1.2.3.4", relay)
    await call.offer(OFFER)  # the page's answer comes as an event
    await call.start_sip()
    return engine, call


async def test_the_trunk_gets_the_relays_plain_offer_in_its_codec_order_without_webrtc_lines() -> None:
    relay = FakeRelay()
    engine, call = await placed(relay)
    sent, flags = relay.offers[0]
    assert flags["ICE"] == "remove" and flags["codec"] == {"mask": ["opus"]}
    # The link's video policy (inactive, the default of a link config) holds whatever the page offered.
    assert "m=audio 40123 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126" in sent and "m=video 0 " in sent
    assert engine.relay_sdp is not None
    assert "m=audio 30000 RTP/AVP 0 8 126" in engine.relay_sdp  # PCMU, PCMA, G722: the profile's order
    assert "a=ssrc" not in engine.relay_sdp and "a=mid" not in engine.relay_sdp
    await call.close()


PAGE_EVENTS = [
    # name, SIP events (kind, status, far SDP), the page's media events in order
    ("180 without SDP: local ringback, then the 200's answer", [("progress", 180, ""), ("answered", 200, FAR)],
     [("ringback", True), ("answer", "webrtc answer 1"), ("ringback", False)]),
    ("183 with SDP: early media, one answer for the page", [("progress", 183, FAR), ("answered", 200, FAR)],
     [("answer", "webrtc answer 1")]),
    ("180 then 183 with SDP: ringback stops when early media starts", [("progress", 180, ""), ("progress", 183, FAR)],
     [("ringback", True), ("answer", "webrtc answer 1"), ("ringback", False)]),
]


@pytest.mark.parametrize(("name", "sip", "expected"), PAGE_EVENTS, ids=[p[0] for p in PAGE_EVENTS])
async def test_far_end_sdp_reaches_the_page_through_the_relay(
    name: str, sip: list[tuple[str, int, str]], expected: list[tuple[str, Any]]
) -> None:
    relay = FakeRelay()
    engine, call = await placed(relay)
    assert engine.handle is not None
    for kind, status, far in sip:
        engine.handle.publish(CallEvent(kind, 0.0, status, "", has_sdp=bool(far), sdp=far))  # type: ignore[arg-type]
        await settle()
    seen = [
        (e["type"], e["on"] if e["type"] == "ringback" else e["sdp"])
        for e in call.events
        if e["type"] in ("answer", "ringback")
    ]
    assert seen == expected
    assert relay.answers == [far for _, _, far in sip if far]  # every far SDP updates the relay
    await call.close()


async def hung_up_by_visitor(engine: FakeEngine, call: BrowserCall) -> None:
    await call.hangup()


async def hung_up_by_far_end(engine: FakeEngine, call: BrowserCall) -> None:
    assert engine.handle is not None
    engine.handle.publish(CallEvent("answered", 0.0, 200, "", sdp=FAR))
    await settle()
    engine.handle.publish(CallEvent("ended", 0.0, 200, ""))


async def refused_by_far_end(engine: FakeEngine, call: BrowserCall) -> None:
    assert engine.handle is not None
    engine.handle.publish(CallEvent("ended", 0.0, 486, ""))


async def server_shutdown(engine: FakeEngine, call: BrowserCall) -> None:
    await call.close()


async def relay_lost_it(engine: FakeEngine, call: BrowserCall) -> None:
    await call.media_lost()


ENDINGS = [
    ("the visitor hangs up", hung_up_by_visitor, "hangup"),
    ("the far end hangs up", hung_up_by_far_end, "remote-hangup"),
    ("the far end is busy", refused_by_far_end, "busy"),
    ("the server shuts down", server_shutdown, "hangup"),
    ("the relay lost the call", relay_lost_it, "media-lost"),
]


@pytest.mark.parametrize(("name", "end", "reason"), ENDINGS, ids=[e[0] for e in ENDINGS])
async def test_every_way_a_call_ends_deletes_the_relay_session(name: str, end: Any, reason: str) -> None:
    relay = FakeRelay()
    engine, call = await placed(relay)
    await end(engine, call)
    await settle()
    await asyncio.wait_for(call._ended.wait(), 2)
    await call.teardown()
    assert call.reason is not None and call.reason.key == reason
    assert relay.deleted == [call.id] and relay.sessions == set()


async def test_a_call_the_sip_engine_cannot_place_deletes_its_session_too() -> None:
    relay = FakeRelay()
    call = BrowserCall(FakeEngine(fail=True), LINK, profile(), "1.2.3.4", relay)
    await call.offer(OFFER)
    await call.start_sip()
    assert call.reason is not None and call.reason.key == "failed"
    assert relay.sessions == set()


async def test_a_relay_that_refuses_the_offer_is_unavailable_and_nothing_is_dialled() -> None:
    engine = FakeEngine()
    call = BrowserCall(engine, LINK, profile(), "1.2.3.4", FakeRelay(refuse=True))
    with pytest.raises(RelayUnavailable, match="no ports"):
        await call.offer(OFFER)
    assert engine.placed == []
    await call.close()


@pytest.mark.parametrize("offer", ["", "not sdp", "v=0\r\nm=audio 0 RTP/AVP 0\r\n"], ids=["empty", "text", "no media"])
async def test_an_offer_without_media_is_refused_before_the_relay(offer: str) -> None:
    relay = FakeRelay()
    call = BrowserCall(FakeEngine(), LINK, profile(), "1.2.3.4", relay)
    with pytest.raises(BadOffer):
        await call.offer(offer)
    assert relay.offers == []
    await call.close()


async def test_rfc4733_keys_are_left_to_the_page_sip_info_goes_through_the_engine() -> None:
    for method, sent in (("rfc4733", []), ("sip-info", ["5"])):
        relay = FakeRelay()
        engine = FakeEngine()
        call = BrowserCall(engine, LINK, profile().model_copy(update={"dtmf": method}), "1.2.3.4", relay)
        await call.offer(OFFER)
        await call.start_sip()
        assert engine.handle is not None
        engine.handle.publish(CallEvent("answered", 0.0, 200, "", sdp=FAR))
        await settle()
        await call.dtmf("5")
        assert engine.digits == sent, method
        await call.close()


async def test_the_watch_ends_calls_the_relay_forgot_and_all_when_it_stops_answering() -> None:
    relay = FakeRelay()
    _, kept = await placed(relay)
    _, forgotten = await placed(relay)
    calls = {kept.id: kept, forgotten.id: forgotten}
    relay.sessions.discard(forgotten.id)  # rtpengine restarted, or timed the call out
    up: list[bool] = []
    watch = asyncio.ensure_future(watch_relay(relay, calls, interval=0.01, on_up=up.append))
    try:
        await asyncio.wait_for(forgotten._ended.wait(), 2)
        assert forgotten.reason is not None and forgotten.reason.key == "media-lost"
        assert "audio connection was lost" in forgotten.events[-1]["reasonText"]
        assert not kept.ended
        assert metrics.MEDIA_UP._value.get() == 1 and metrics.MEDIA_SESSIONS._value.get() == 1
        assert up and all(up)  # the pod is ready while the relay answers
        relay.down = True
        await asyncio.wait_for(kept._ended.wait(), 2)
        assert kept.reason is not None and kept.reason.key == "media-lost"
        await asyncio.sleep(0.1)
        assert metrics.MEDIA_UP._value.get() == 0
        assert up[-1] is False  # and not ready once it stops
    finally:
        watch.cancel()


def test_the_media_gauges_reach_the_pods_metrics_page() -> None:
    registry = CollectorRegistry()
    metrics.register_into(registry)
    metrics.set_media({"currentstatistics": {"sessionsown": 3, "transcodedmedia": 1}, "totalstatistics": {}})
    text = generate_latest(registry).decode()
    assert "guestgate_media_relay_up 1.0" in text and "guestgate_media_sessions 3.0" in text
    assert "guestgate_media_transcoded_streams 1.0" in text
