"""The pjsua2 engine in this process: profiles applied to the wire, bad inputs refused without
harm, a health-check call's own media, DTMF methods, trunk removal during a call."""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pjsua2 as pj
import pytest

from guestgate.config.schema import AuthConfig, PeerConfig, SessionTimerConfig, TrunkProfile
from guestgate.engine.calls import CallHandle
from guestgate.engine.config import EngineInputError
from guestgate.engine.core import (
    CONFIG_SITE,
    PJSUA_MAX_ACC,
    CallLimitError,
    EngineError,
    EngineSettings,
    SipEngine,
)
from guestgate_dev.support.ports import free_port_range
from support.signal_helpers import REPO, SippFactory, free_port
from support.signal_server import refused_invite

MEDIA_PORTS = 64  # the engine's RTP ports: a block of its own (other engines may run at once)


@pytest.fixture(scope="module")
def engine() -> Iterator[SipEngine]:
    # One pjsua2 library per process: the whole module shares it.
    sip = SipEngine(EngineSettings(bind_address="127.0.0.1", sip_port=0, max_calls=8,
                                   media_port_start=free_port_range(MEDIA_PORTS), media_port_count=MEDIA_PORTS))
    sip.start()
    yield sip
    sip.stop()


def profile(name: str, port: int, **extra: Any) -> TrunkProfile:
    return TrunkProfile(id=f"t/{name}", namespace="t", name=name, peers=(PeerConfig(host="127.0.0.1", port=port),),
                        **extra)


def text(handle: CallHandle, start: str) -> str:
    for message in handle.capture().messages:
        if message.data.startswith(start.encode()):
            return message.data.decode(errors="replace")
    raise AssertionError(f"no {start!r} in the capture")


async def wait_ended(engine: SipEngine, handle: CallHandle) -> None:
    if not handle.ended:
        await engine.hangup(handle)
    assert await handle.wait(("ended",), 10), "the call did not end"


@pytest.fixture
async def settled(engine: SipEngine) -> AsyncIterator[None]:
    yield
    await engine.set_trunks([], {})


async def test_profile_reaches_the_wire(engine: SipEngine, sipp: SippFactory, settled: None) -> None:
    busy = sipp("asterisk-486-busy")
    trunk = profile("order", busy.port, codecs=("PCMA", "PCMU"), prack="require",
                    session_timer=SessionTimerConfig(expires=600, min_se=120))
    assert await engine.set_trunks([trunk], {}) == {}
    handle = await engine.place_call(trunk.id, "1000")
    ended = await handle.wait(("ended",), 10)
    assert ended is not None and ended.status_code == 486
    invite = text(handle, "INVITE ")
    assert "Require: 100rel" in invite
    assert "Session-Expires: 600" in invite and "Min-SE: 120" in invite
    media_line = next(line for line in invite.splitlines() if line.startswith("m=audio"))
    payloads = media_line.split()[3:]
    assert payloads[:2] == ["8", "0"], media_line  # PCMA before PCMU, G722 (9) left out
    assert "9" not in payloads
    # RTP from the engine's own block (pjsua's default is 4000 upward, whoever else is there)
    rtp, start = int(media_line.split()[1]), engine.settings.media_port_start
    assert rtp % 2 == 0 and start <= rtp <= start + engine.settings.media_port_count - 2, media_line


async def test_caller_name_is_the_from_display_name(engine: SipEngine, sipp: SippFactory, settled: None) -> None:
    busy = sipp("asterisk-486-busy")
    trunk = profile("named", busy.port)
    assert await engine.set_trunks([trunk], {}) == {}
    handle = await engine.place_call(trunk.id, "1000", caller_name="Web visitor (sales)")
    assert await handle.wait(("ended",), 10)
    from_header = next(line for line in text(handle, "INVITE ").splitlines() if line.lower().startswith("from:"))
    assert '"Web visitor (sales)" <sip:guestgate@' in from_header
    for bad in ('x" <sip:evil@example.com>', "two\r\nlines", "<sip:a@b>"):
        with pytest.raises(EngineInputError):
            await engine.place_call(trunk.id, "1000", caller_name=bad)


async def test_bad_inputs_are_refused_and_the_engine_lives_on(engine: SipEngine, settled: None) -> None:
    good = profile("good", free_port())
    errors = await engine.set_trunks(
        [
            good,
            profile("codec", free_port(), codecs=("OPUS",)),
            profile("auth", free_port(), auth=AuthConfig(credentials_key="t.auth")),
            TrunkProfile(id="t/host", namespace="t", name="host", peers=(PeerConfig(host="bad host!"),)),
        ],
        {},
    )
    assert set(errors) == {"t/codec", "t/auth", "t/host"}
    assert "credentials" in errors["t/auth"]
    with pytest.raises(EngineError):
        await engine.place_call("t/unknown", "100")
    with pytest.raises(EngineInputError):
        await engine.place_call(good.id, "1000; drop table")
    with pytest.raises(EngineInputError):
        await engine.place_call(good.id, "")
    handle = CallHandle(call_id="nope", trunk_id=good.id, number="1", target="sip:1@x")
    with pytest.raises(EngineInputError):
        await engine.send_dtmf(handle, "12x")
    with pytest.raises(EngineError):
        await engine.send_dtmf(handle, "12")
    await engine.hangup(handle)  # unknown call: nothing to do, no crash
    assert engine.running


async def test_media_and_dtmf_on_a_live_health_check_call(
    engine: SipEngine, sipp: SippFactory, settled: None
) -> None:
    """A call without a relay (a health check's): pjsua's own audio flows both ways."""
    # -aa: SIPp answers the INFO (an unanswered INFO holds pjsua's call slot for 32 s)
    cube = sipp("cube-reliable-183", rtp_echo=True, calls=100, extra=("-aa",))
    trunk = profile("cube", cube.port, dtmf="sip-info")
    assert await engine.set_trunks([trunk], {}) == {}
    handle = await engine.place_call(trunk.id, "1000")
    assert await handle.wait(("answered",), 10)
    await asyncio.sleep(1.0)
    progress = [e for e in handle.events if e.kind == "progress"]
    assert progress and progress[0].status_code == 183 and progress[0].has_sdp and progress[0].reliable
    await engine.send_dtmf(handle, "5")
    counters = await engine.media_counters(handle)
    assert counters.rtp_packets_sent > 10 and counters.rtp_packets_received > 10
    await wait_ended(engine, handle)
    assert "Signal=5" in text(handle, "INFO ")  # SIP INFO went out with the digit


async def test_in_band_dtmf_generators_are_reused_across_calls(
    engine: SipEngine, sipp: SippFactory, settled: None
) -> None:
    cube = sipp("cube-reliable-183", rtp_echo=True, calls=100)
    trunk = profile("tones", cube.port, dtmf="inband")
    assert await engine.set_trunks([trunk], {}) == {}
    generators = []
    for _ in range(3):
        handle = await engine.place_call(trunk.id, "1000")
        assert await handle.wait(("answered",), 10)
        await asyncio.sleep(0.3)
        await engine.send_dtmf(handle, "12#")
        await asyncio.sleep(0.3)
        await wait_ended(engine, handle)
        await asyncio.sleep(0.2)  # the engine reaps the call on its next turn
        generators.append(list(engine._idle_tones))
    # One generator, parked after each call and taken again by the next: none destroyed mid-run.
    assert [len(g) for g in generators] == [1, 1, 1]
    assert generators[0][0] is generators[2][0]


async def test_trunk_removed_during_a_call(engine: SipEngine, sipp: SippFactory, settled: None) -> None:
    cube = sipp("cube-reliable-183", rtp_echo=True)
    trunk = profile("gone", cube.port)
    assert await engine.set_trunks([trunk], {}) == {}
    handle = await engine.place_call(trunk.id, "1000")
    assert await handle.wait(("answered",), 10)
    assert await engine.set_trunks([], {}) == {}
    assert engine.trunk_profile(trunk.id) is None  # no new calls on it
    with pytest.raises(EngineError):
        await engine.place_call(trunk.id, "1000")
    await asyncio.sleep(0.5)
    assert not handle.ended  # the call in progress goes on
    await wait_ended(engine, handle)
    assert handle.events[-1].status_code == 200


async def test_a_call_object_lives_while_pjsua_holds_its_slot(
    engine: SipEngine, sipp: SippFactory, settled: None, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pjsua2 2.17's ~Call() clears the user data of the slot the Call last had and hangs up any
    call active there, and Account.shutdown() forces the deletion under calls still on it. So the
    engine keeps a hung-up call's Call and its removed trunk's account until pjsua has finished
    the call (here a peer slow to answer the BYE), then drops them on its own thread; neither a
    job's exception nor a callback's logged failure keeps the Call past that (before: the Call
    went at hang-up, the account was wiped with the BYE in flight, and both references lived on
    in the test's hands, to be dropped on this thread once the slot was another call's)."""
    slow = sipp("asterisk-slow-bye")
    trunk = profile("slow-bye", slow.port)
    assert await engine.set_trunks([trunk], {}) == {}

    def failing(call: Any) -> None:
        raise RuntimeError("media state handler blew up")

    monkeypatch.setattr(engine, "_on_media_state", failing)
    caplog.set_level("INFO", logger="guestgate.engine.core")
    handle = await engine.place_call(trunk.id, "1000")
    assert await handle.wait(("answered",), 10)
    gone: list[tuple[str, float]] = []

    def watch() -> weakref.ref[Any]:
        return weakref.ref(engine._calls[handle.call_id].call,
                           lambda _: gone.append((threading.current_thread().name, time.time())))

    call_ref = await engine.run(watch)
    with pytest.raises(EngineInputError) as refused:  # raised with the call's record in scope
        await engine.hangup(handle, 200)
    assert await engine.set_trunks([], {}) == {}
    await wait_ended(engine, handle)
    for _ in range(100):
        if gone:
            break
        await asyncio.sleep(0.1)
    bye_ok = [m for m in handle.capture().messages if m.direction == "received"
              and m.data.startswith(b"SIP/2.0 200") and re.search(rb"CSeq: \d+ BYE", m.data)]
    assert bye_ok, "the peer did not answer the BYE"
    assert gone and gone[0][0] == "pjsua2", (gone, refused.value)
    assert gone[0][1] >= bye_ok[0].time  # kept while pjsua finished the call
    assert call_ref() is None
    assert any("media state handler failed" in r.getMessage() for r in caplog.records)
    removed = [r for r in caplog.records if r.getMessage() == f"trunk removed trunk={trunk.id}"]
    assert removed and removed[0].created >= bye_ok[0].time
    assert not [r.getMessage() for r in caplog.records if "(forced)" in r.getMessage()]


async def test_a_refused_call_keeps_no_account_for_later(engine: SipEngine, sipp: SippFactory, settled: None) -> None:
    """A call refused on a removed trunk (its call in progress keeps it) raises from the engine's
    thread: the exception the caller keeps must not hold the trunk's account. It did (in the
    traceback's frames, freed by the garbage collector at some later moment, on any thread):
    pjsua2's ~Account() then deleted whichever account had taken its slot meanwhile, the next
    trunk's, even in the middle of a makeCall on it (a crash seen once in the suite)."""
    answering, busy = sipp("asterisk-answer-no-rtp"), sipp("asterisk-486-busy")
    first = profile("first", answering.port)
    assert await engine.set_trunks([first], {}) == {}
    handle = await engine.place_call(first.id, "1000")
    assert await handle.wait(("answered",), 10)
    assert await engine.set_trunks([], {}) == {}
    with pytest.raises(EngineError) as refused:
        await engine.place_call(first.id, "1001")
    await wait_ended(engine, handle)
    for _ in range(50):  # the account goes once pjsua is done with the call
        if first.id not in await engine.run(lambda: list(engine._trunks)):
            break
        await asyncio.sleep(0.1)
    second = profile("second", busy.port)
    assert await engine.set_trunks([second], {}) == {}  # its account takes the first one's slot
    del refused
    gc.collect()  # here, not at some moment of the collector's choosing
    ended = await (await engine.place_call(second.id, "2000")).wait(("ended",), 10)
    assert ended is not None and ended.status_code == 486


async def test_incoming_calls_are_refused(engine: SipEngine) -> None:
    port = int(engine.local_address("udp").rsplit(":", 1)[1])
    engine.set_allowed_sources({"127.0.0.1"})
    reply = await asyncio.to_thread(refused_invite, port)
    assert reply.startswith(b"SIP/2.0 480"), reply
    engine.set_allowed_sources(set())
    reply = await asyncio.to_thread(refused_invite, port)
    assert reply.startswith(b"SIP/2.0 403"), reply
    assert engine.running


async def test_limits_are_refused_with_an_error_not_an_abort(engine: SipEngine, settled: None) -> None:
    """A trunk past pjsua's account table and a call past maxCallsPerPod (8 here) are refused
    with errors naming the limit; the engine keeps running and takes calls again afterwards."""
    trunks = [profile(f"t{i}", 9) for i in range(PJSUA_MAX_ACC)]
    errors = await engine.set_trunks(trunks, {})
    assert list(errors) == [trunks[-1].id]
    assert f"at most {PJSUA_MAX_ACC - 1} trunks" in errors[trunks[-1].id]
    assert engine.max_calls == 8
    handles = [await engine.place_call(trunks[0].id, str(1000 + i)) for i in range(engine.max_calls)]
    with pytest.raises(CallLimitError, match=r"8 calls in progress.*maxCallsPerPod=8"):
        await engine.place_call(trunks[1].id, "2000")
    for handle in handles:
        await wait_ended(engine, handle)
    assert engine.running
    again = await engine.place_call(trunks[0].id, "3000")
    await wait_ended(engine, again)


def test_the_build_is_the_projects(engine: SipEngine) -> None:
    """pjsua2 comes from hack/build-pjsua2.sh: pjproject 2.17 with config_site.h's sizes and Opus
    (the PyPI wheel had 2.15, 4 calls, 8 accounts and no Opus)."""
    config_site = (REPO / CONFIG_SITE).read_text()
    sizes = dict(re.findall(r"^#define\s+(PJSUA_MAX_CALLS|PJSUA_MAX_ACC)\s+(\d+)", config_site, re.M))
    assert int(sizes["PJSUA_MAX_ACC"]) == PJSUA_MAX_ACC >= 64
    config = pj.EpConfig()  # held: uaConfig is a view into it (SWIG)
    assert int(config.uaConfig.maxCalls) == int(sizes["PJSUA_MAX_CALLS"]) >= 512
    assert pj.Endpoint.instance().libVersion().full.startswith("2.17")
    assert "opus/48000/2" in engine.codecs
