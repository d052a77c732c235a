"""A job queued while the engine thread sleeps in pjlib's poll runs at once: the submitter's
one-byte datagram to the engine's own UDP SIP socket ends the poll (pjsip ignores it), through the
peer filter of a peers-only engine too. The poll is made very long here, so a job that waited for
it would take seconds; how much this saves a call's setup is `make bench ONLY=click_to_ring`."""

from __future__ import annotations

import socket
import time

import pytest

from guestgate.engine import core
from guestgate.engine.core import EngineSettings, running_engine
from guestgate.engine.wake import wake_address
from guestgate_dev.support.ports import free_port

LONG_POLL_MS = 20_000


@pytest.mark.parametrize("peers_only", [False, True], ids=["open", "peers only"])
def test_a_queued_job_ends_a_long_poll(monkeypatch: pytest.MonkeyPatch, peers_only: bool) -> None:
    monkeypatch.setattr(core, "WOKEN_POLL_MS", LONG_POLL_MS)
    settings = EngineSettings(bind_address="127.0.0.1", sip_port=0, peers_only=peers_only, media_port_start=0)
    with running_engine(settings) as engine:
        engine.set_allowed_sources(["192.0.2.10"])  # not the engine's own address
        for _ in range(3):
            time.sleep(0.2)  # the engine thread is asleep in its poll by now
            started = time.monotonic()
            assert engine.submit(lambda: 42).result(timeout=LONG_POLL_MS / 1000 + 10) == 42
            assert time.monotonic() - started < LONG_POLL_MS / 1000 / 2, "the job waited for the poll"
        assert engine._waker is not None and engine._waker.sent >= 3
        assert engine.refused_requests() == {}  # the wake-ups are not SIP: nothing refused or answered


def test_a_stranger_cannot_wake_a_peers_only_engine_with_sip() -> None:
    """The filter lets the engine's own address through with wake-up sized datagrams only: SIP from
    it (an OPTIONS scan from the pod's own loopback) still gets nothing."""
    settings = EngineSettings(bind_address="127.0.0.1", sip_port=0, peers_only=True, media_port_start=0)
    with running_engine(settings) as engine:
        engine.set_allowed_sources(["192.0.2.10"])
        host, _, port = engine.local_address("udp").rpartition(":")
        options = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{free_port()};branch=z9hG4bK1\r\n"
                   "From: <sip:scan@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: scan-1\r\nCSeq: 1 OPTIONS\r\n"
                   "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as scanner:
            scanner.bind(("127.0.0.1", 0))
            scanner.settimeout(1.0)
            scanner.sendto(options.encode(), (host, int(port)))
            with pytest.raises(TimeoutError):
                scanner.recv(2000)


@pytest.mark.parametrize(
    ("bound", "expected"),
    [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("[::]", "::1"), ("10.1.2.3", "10.1.2.3"), ("127.0.0.1", "127.0.0.1"),
     ("fd00::7", "fd00::7")],
)
def test_wake_address(bound: str, expected: str) -> None:
    assert wake_address(bound) == expected
