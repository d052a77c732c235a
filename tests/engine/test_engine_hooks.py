"""An engine on a pjsua2 build without GuestGate's guard module (a wheel from elsewhere): pjsua
itself takes an INVITE from the trunk side and the engine refuses it through pjsua2's hooks. The
refused Call objects live exactly until pjsua frees their slots (pjsua2 2.17's ~Call() would
otherwise touch a slot by then another call's) and go on the engine's thread."""

from __future__ import annotations

import asyncio
import ctypes
import gc
from collections.abc import Iterator

import pjsua2 as pj
import pytest

from guestgate.engine.core import EngineSettings, SipEngine
from guestgate.engine.guard import SipGuard
from support.signal_server import refused_invite


def install_nothing(guard: SipGuard) -> str:
    """SipGuard.install on a build without the guard module: the extension found, no module."""
    guard._extension = ctypes.CDLL(pj._pjsua2.__file__)
    guard.mode = "hooks: test"
    return guard.mode


@pytest.fixture(scope="module")
def engine() -> Iterator[SipEngine]:
    # One pjsua2 library per process: this module's engine runs once the other modules' are gone.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SipGuard, "install", install_nothing)
        sip = SipEngine(EngineSettings(bind_address="127.0.0.1", sip_port=0, transports=("udp",), max_calls=4,
                                       media_port_start=0))
        sip.start()
    yield sip
    sip.stop()


def live_calls() -> list[pj.Call]:
    return [o for o in gc.get_objects() if isinstance(o, pj.Call)]


async def test_refused_incoming_calls_are_dropped_once_pjsua_frees_them(engine: SipEngine) -> None:
    assert engine.sip_guard == "hooks: test"
    port = int(engine.local_address("udp").rsplit(":", 1)[1])
    engine.set_allowed_sources({"127.0.0.1"})
    replies = [await asyncio.to_thread(refused_invite, port) for _ in range(3)]
    engine.set_allowed_sources(set())
    replies.append(await asyncio.to_thread(refused_invite, port))
    assert [r.split(b"\r\n", 1)[0] for r in replies] == [b"SIP/2.0 480 Temporarily Unavailable"] * 3 + [
        b"SIP/2.0 403 Forbidden"
    ], replies
    assert engine.refused_requests() == {("INVITE", 480): 3, ("INVITE", 403): 1}
    for _ in range(50):  # pjsua frees a refused call's slot once the refusal is ACKed
        if engine.call_slots.get("pjsua") == 0:
            break
        await asyncio.sleep(0.1)
    assert engine.call_slots.get("pjsua") == 0, engine.call_slots
    await engine.run(lambda: None)  # one more turn of the engine's loop
    assert not live_calls()  # gone with their slots, not kept on a timer (before: 5 s)
    assert engine.running
