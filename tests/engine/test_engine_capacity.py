"""One engine holds a real pod's load: 100 calls placed at once against a SIPp UAS all confirm
(the PyPI wheel held 4). Bounded: SIPp plays 100 calls and stops, every wait has a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from guestgate.config.schema import PeerConfig, TrunkProfile
from guestgate.engine.calls import CallHandle
from guestgate.engine.core import EngineSettings, SipEngine
from guestgate_dev.support.ports import free_port_range
from support.signal_helpers import SippFactory

CALLS = 100


@pytest.fixture(scope="module")
def engine() -> Iterator[SipEngine]:
    # One pjsua2 library per process: this module's engine runs once the other modules' are gone.
    sip = SipEngine(EngineSettings(bind_address="127.0.0.1", sip_port=0, transports=("udp",), max_calls=CALLS,
                                   media_port_start=free_port_range(4 * CALLS), media_port_count=4 * CALLS))
    sip.start()
    yield sip
    sip.stop()


async def test_a_hundred_calls_at_once_all_confirm(engine: SipEngine, sipp: SippFactory) -> None:
    uas = sipp("asterisk-answer-no-rtp", calls=CALLS, run_seconds=90)
    trunk = TrunkProfile(id="t/uas", namespace="t", name="uas", peers=(PeerConfig(host="127.0.0.1", port=uas.port),))
    assert await engine.set_trunks([trunk], {}) == {}
    # All placed in one go: the INVITEs leave within a few milliseconds of each other.
    handles: list[CallHandle] = await asyncio.gather(
        *(engine.place_call(trunk.id, str(2000 + i)) for i in range(CALLS))
    )
    answered = await asyncio.gather(*(h.wait(("answered", "ended"), 60) for h in handles))
    kinds = [event.kind if event is not None else "timeout" for event in answered]
    assert kinds == ["answered"] * CALLS, {k: kinds.count(k) for k in set(kinds)}
    # Held at once: none of them ended while the others were being answered.
    assert not any(h.ended for h in handles)
    assert engine.max_calls == CALLS
    await asyncio.gather(*(engine.hangup(h) for h in handles))
    ended = await asyncio.gather(*(h.wait(("ended",), 30) for h in handles))
    assert all(event is not None for event in ended)
    assert await asyncio.to_thread(uas.wait, 30) == 0, uas.output()[-2000:]  # SIPp: 100 calls, none failed
    assert engine.running
