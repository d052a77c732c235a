"""A browser call's reactions to SIP events, with a fake engine and a fake media relay (no pjsua2,
no rtpengine, no network): states the page is told, when the page plays its own ringback, why the
call ended."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from guestgate.config.schema import EarlyMediaConfig, LinkConfig, PeerConfig, TrunkProfile
from guestgate.engine.calls import CallEvent, CallHandle
from guestgate.media.ng import NgError, NgUnreachable
from guestgate.web.session import BrowserCall

LINK = LinkConfig(
    id="ns/l", namespace="ns", name="l", path="/call/l", url="u", trunk="ns/t", destination="2001", display_name="L"
)


class FakeEngine:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.placed: list[tuple[str, str, PeerConfig | None]] = []
        self.caller_names: list[str | None] = []
        self.hung_up = 0
        self.digits: list[str] = []
        self.handle: CallHandle | None = None
        self.relay_sdp: str | None = None

    async def place_call(
        self,
        trunk_id: str,
        number: str,
        peer: PeerConfig | None = None,
        caller_name: str | None = None,
        relay_sdp: str | None = None,
    ) -> CallHandle:
        self.relay_sdp = relay_sdp
        if self.fail:
            raise RuntimeError("the SIP engine is not running")
        self.placed.append((trunk_id, number, peer))
        self.caller_names.append(caller_name)
        self.handle = CallHandle(call_id="c", trunk_id=trunk_id, number=number, target="t")
        self.handle._messages = list
        return self.handle

    async def send_dtmf(self, handle: CallHandle, digits: str) -> None:
        self.digits.append(digits)

    async def hangup(self, handle: CallHandle, status_code: int = 0) -> None:
        self.hung_up += 1
        handle.publish(CallEvent("ended", 0.0, 487 if not handle.answered else 200, ""))


OFFER = (Path(__file__).parents[1] / "media" / "data" / "chromium-offer.sdp").read_text()
PLAIN = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 8 0 126\r\na=mid:0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\na=ssrc:1 cname:x\r\n"
)


class FakeRelay:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.offers: list[tuple[str, dict[str, Any]]] = []
        self.answers: list[str] = []
        self.sessions: set[str] = set()
        self.deleted: list[str] = []
        self.down = False

    async def offer(self, call_id: str, from_tag: str, sdp: str, **flags: Any) -> str:
        if self.refuse:
            raise NgError("rtpengine refused 'offer': no ports")
        self.offers.append((sdp, flags))
        self.sessions.add(call_id)
        return PLAIN

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str, **flags: Any) -> str:
        self.answers.append(sdp)
        return f"webrtc answer {len(self.answers)}"

    async def delete(self, call_id: str, from_tag: str | None = None) -> dict[str, Any]:
        self.deleted.append(call_id)
        self.sessions.discard(call_id)
        return {"result": "ok"}

    async def statistics(self) -> dict[str, Any]:
        if self.down:
            raise NgUnreachable("rtpengine at 127.0.0.1:2223 did not answer 'statistics'")
        return {"currentstatistics": {"sessionsown": len(self.sessions), "transcodedmedia": 0}, "totalstatistics": {}}

    async def list_calls(self, limit: int = 1000) -> list[str]:
        if self.down:
            raise NgUnreachable("rtpengine at 127.0.0.1:2223 did not answer 'list'")
        return sorted(self.sessions)


def profile(**early: Any) -> TrunkProfile:
    return TrunkProfile(
        id="ns/t", namespace="ns", name="t", peers=(PeerConfig(host="h"),), early_media=EarlyMediaConfig(**early)
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


CASES = [
    # name, early-media policy, SIP events, states told to the page, page's ringback at the end, end reason
    (
        "180 without SDP rings with local ringback",
        {},
        [("progress", 180, False)],
        ["connecting", "ringing"],
        True,
        None,
    ),
    (
        "183 with SDP relays the far end's early media",
        {},
        [("progress", 183, True)],
        ["connecting", "ringing"],
        False,
        None,
    ),
    (
        "180 with SDP and disableOn180 rings locally",
        {"disable_on_180": True},
        [("progress", 180, True)],
        ["connecting", "ringing"],
        True,
        None,
    ),
    (
        "localRingback never stays silent on a bare 180",
        {"local_ringback": "never"},
        [("progress", 180, False)],
        ["connecting", "ringing"],
        False,
        None,
    ),
    (
        "answer relays the call",
        {},
        [("progress", 180, False), ("answered", 200, True)],
        ["connecting", "ringing", "connected"],
        False,
        None,
    ),
    (
        "busy before the answer",
        {},
        [("progress", 180, False), ("ended", 486, False)],
        ["connecting", "ringing", "ended"],
        True,
        "busy",
    ),
    (
        "hung up by the far end",
        {},
        [("answered", 200, True), ("ended", 200, False)],
        ["connecting", "connected", "ended"],
        False,
        "remote-hangup",
    ),
]


@pytest.mark.parametrize(("name", "early", "events", "states", "ringback", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_sip_events_to_page_states(
    name: str,
    early: dict[str, Any],
    events: list[tuple[str, int, bool]],
    states: list[str],
    ringback: bool,
    reason: str | None,
) -> None:
    engine = FakeEngine()
    call = BrowserCall(engine, LINK, profile(**early), "1.2.3.4", FakeRelay())
    await call.offer(OFFER)
    await call.start_sip()
    assert engine.handle is not None
    for kind, status, sdp in events:
        engine.handle.publish(CallEvent(kind, 0.0, status, "", has_sdp=sdp))  # type: ignore[arg-type]
        await settle()
    assert [e["state"] for e in call.events if e["type"] == "state"] == states
    assert call.ringback == ringback
    # The page plays the ringback itself: the last it was told is what it plays now.
    told = [e["on"] for e in call.events if e["type"] == "ringback"]
    assert (told[-1] if told else False) == ringback
    assert (call.reason.key if call.reason else None) == reason
    await call.teardown()


async def test_the_link_decides_what_is_dialled_and_the_peer_follows_failover() -> None:
    engine = FakeEngine()
    peer = PeerConfig(host="fallback")
    call = BrowserCall(engine, LINK, profile(), "1.2.3.4", FakeRelay(), peer=peer)
    await call.offer(OFFER)
    await call.start_sip()
    assert engine.placed == [("ns/t", "2001", peer)]
    assert engine.caller_names == [None]
    await call.close()


async def test_the_links_caller_name_goes_to_the_called_phone() -> None:
    engine = FakeEngine()
    link = LINK.model_copy(update={"caller_name": "Web visitor"})
    call = BrowserCall(engine, link, profile(), "1.2.3.4", FakeRelay())
    await call.offer(OFFER)
    await call.start_sip()
    assert engine.caller_names == ["Web visitor"]
    await call.close()


async def test_the_visitor_hanging_up_before_the_answer_cancels_and_says_so() -> None:
    engine = FakeEngine()
    ended: list[BrowserCall] = []
    call = BrowserCall(engine, LINK, profile(), "1.2.3.4", FakeRelay(), on_end=ended.append)
    await call.offer(OFFER)
    await call.start_sip()
    await call.hangup()
    await settle()
    assert engine.hung_up == 1 and ended == [call]
    assert call.reason is not None and call.reason.key == "hangup"


async def test_an_engine_that_cannot_place_the_call_ends_it_with_a_clear_reason() -> None:
    call = BrowserCall(FakeEngine(fail=True), LINK, profile(), "1.2.3.4", FakeRelay())
    await call.offer(OFFER)
    await call.start_sip()
    assert call.ended and call.reason is not None and call.reason.key == "failed"
    assert "could not connect" in call.events[-1]["reasonText"]


async def test_keypad_only_when_connected_and_throttled() -> None:
    engine = FakeEngine()
    # SIP INFO goes out from the engine (RFC 4733 leaves the page itself, through the relay).
    call = BrowserCall(engine, LINK, profile().model_copy(update={"dtmf": "sip-info"}), "1.2.3.4", FakeRelay())
    await call.offer(OFFER)
    await call.start_sip()
    assert engine.handle is not None
    await call.dtmf("1")  # still connecting: nobody to hear it
    engine.handle.publish(CallEvent("answered", 0.0, 200, ""))
    await settle()
    for _ in range(15):
        await call.dtmf("5")
    assert engine.digits == ["5"] * 10
    await call.close()


async def test_a_call_without_a_relayed_offer_is_never_dialled() -> None:
    """No offer through the relay, no media path: the trunk is not called (pjsua would carry
    media of its own)."""
    engine = FakeEngine()
    call = BrowserCall(engine, LINK, profile(), "1.2.3.4", FakeRelay())
    await call.start_sip()
    assert engine.placed == [] and call.reason is not None and call.reason.key == "failed"
