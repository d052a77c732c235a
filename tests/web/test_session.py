"""A browser call's reactions to SIP events, with a fake engine (no pjsua2, no network): states
the page is told, what the browser hears before the answer, why the call ended."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from guestgate.config.schema import EarlyMediaConfig, LinkConfig, PeerConfig, TrunkProfile
from guestgate.engine.calls import CallEvent, CallHandle
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

    async def attach_media_port(self, handle: CallHandle, factory: Callable[[Any], Any]) -> None:
        return None

    async def send_dtmf(self, handle: CallHandle, digits: str) -> None:
        self.digits.append(digits)

    async def hangup(self, handle: CallHandle, status_code: int = 0) -> None:
        self.hung_up += 1
        handle.publish(CallEvent("ended", 0.0, 487 if not handle.answered else 200, ""))


def profile(**early: Any) -> TrunkProfile:
    return TrunkProfile(
        id="ns/t", namespace="ns", name="t", peers=(PeerConfig(host="h"),), early_media=EarlyMediaConfig(**early)
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


CASES = [
    # name, early-media policy, SIP events, states told to the page, browser audio at the end, end reason
    (
        "180 without SDP rings with local ringback",
        {},
        [("progress", 180, False)],
        ["connecting", "ringing"],
        "ringback",
        None,
    ),
    (
        "183 with SDP relays the far end's early media",
        {},
        [("progress", 183, True)],
        ["connecting", "ringing"],
        "relay",
        None,
    ),
    (
        "180 with SDP and disableOn180 rings locally",
        {"disable_on_180": True},
        [("progress", 180, True)],
        ["connecting", "ringing"],
        "ringback",
        None,
    ),
    (
        "localRingback never stays silent on a bare 180",
        {"local_ringback": "never"},
        [("progress", 180, False)],
        ["connecting", "ringing"],
        "silence",
        None,
    ),
    (
        "answer relays the call",
        {},
        [("progress", 180, False), ("answered", 200, True)],
        ["connecting", "ringing", "connected"],
        "relay",
        None,
    ),
    (
        "busy before the answer",
        {},
        [("progress", 180, False), ("ended", 486, False)],
        ["connecting", "ringing", "ended"],
        "ringback",
        "busy",
    ),
    (
        "hung up by the far end",
        {},
        [("answered", 200, True), ("ended", 200, False)],
        ["connecting", "connected", "ended"],
        "relay",
        "remote-hangup",
    ),
]


@pytest.mark.parametrize(("name", "early", "events", "states", "mode", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_sip_events_to_page_states(
    name: str,
    early: dict[str, Any],
    events: list[tuple[str, int, bool]],
    states: list[str],
    mode: str,
    reason: str | None,
) -> None:
    engine = FakeEngine()
    call = BrowserCall(engine, LINK, profile(**early), "1.2.3.4")
    await call.start_sip()
    assert engine.handle is not None
    for kind, status, sdp in events:
        engine.handle.publish(CallEvent(kind, 0.0, status, "", has_sdp=sdp))  # type: ignore[arg-type]
        await settle()
    assert [e["state"] for e in call.events] == states
    assert call.track.mode == mode
    assert (call.reason.key if call.reason else None) == reason
    await call.teardown()


async def test_the_link_decides_what_is_dialled_and_the_peer_follows_failover() -> None:
    engine = FakeEngine()
    peer = PeerConfig(host="fallback")
    call = BrowserCall(engine, LINK, profile(), "1.2.3.4", peer=peer)
    await call.start_sip()
    assert engine.placed == [("ns/t", "2001", peer)]
    assert engine.caller_names == [None]
    await call.close()


async def test_the_links_caller_name_goes_to_the_called_phone() -> None:
    engine = FakeEngine()
    call = BrowserCall(engine, LINK.model_copy(update={"caller_name": "Web visitor"}), profile(), "1.2.3.4")
    await call.start_sip()
    assert engine.caller_names == ["Web visitor"]
    await call.close()


async def test_the_visitor_hanging_up_before_the_answer_cancels_and_says_so() -> None:
    engine = FakeEngine()
    ended: list[BrowserCall] = []
    call = BrowserCall(engine, LINK, profile(), "1.2.3.4", on_end=ended.append)
    await call.start_sip()
    await call.hangup()
    await settle()
    assert engine.hung_up == 1 and ended == [call]
    assert call.reason is not None and call.reason.key == "hangup"


async def test_an_engine_that_cannot_place_the_call_ends_it_with_a_clear_reason() -> None:
    call = BrowserCall(FakeEngine(fail=True), LINK, profile(), "1.2.3.4")
    await call.start_sip()
    assert call.ended and call.reason is not None and call.reason.key == "failed"
    assert "could not connect" in call.events[-1]["reasonText"]


async def test_keypad_only_when_connected_and_throttled() -> None:
    engine = FakeEngine()
    call = BrowserCall(engine, LINK, profile(), "1.2.3.4")
    await call.start_sip()
    assert engine.handle is not None
    await call.dtmf("1")  # still connecting: nobody to hear it
    engine.handle.publish(CallEvent("answered", 0.0, 200, ""))
    await settle()
    for _ in range(15):
        await call.dtmf("5")
    assert engine.digits == ["5"] * 10
    await call.close()
