"""A peers-only engine's TCP listener gets SO_REUSEPORT (what lets the peer filter steer strangers'
connections away) even when the memory of the SockOpt it was built from is soon taken by others:
pjsua2's SockOpt points at a value inside itself, so the engine keeps it (before, pjsip read the
value from freed memory: AddressSanitizer's heap-use-after-free in pj_sockopt_params_clone)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pjsua2 as pj
import pytest

from guestgate.engine.core import EngineError, EngineSettings, SipEngine, running_engine

CHURN: list[Any] = []


def churned(original: Callable[[SipEngine], Any]) -> Callable[[SipEngine], Any]:
    def options(engine: SipEngine) -> Any:
        result = original(engine)
        # Meanwhile, in a busy process: new objects of the same size take whatever was freed (a
        # fresh SockOpt is zeroed, its value 0).
        CHURN.extend(pj.SockOpt() for _ in range(64))
        return result

    return options


def test_the_tcp_listener_keeps_so_reuseport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SipEngine, "_listener_options", churned(SipEngine._listener_options))
    settings = EngineSettings(bind_address="127.0.0.1", sip_port=0, peers_only=True, media_port_start=0)
    try:
        with running_engine(settings) as engine:
            port = int(engine.local_address("tcp").rsplit(":", 1)[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as twin:
                twin.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                twin.bind(("127.0.0.1", port))  # EADDRINUSE unless pjsip's listener has SO_REUSEPORT
    finally:
        CHURN.clear()


def test_a_failed_start_leaves_no_library_behind() -> None:
    """A start that fails (here: the SIP port is taken) says why, and the caller's exception holds
    no pjsua2 Endpoint: the next engine starts at once (pjsua2 has one Endpoint per process; one
    kept alive by the exception's frames made the next start fail with PJ_EEXISTS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        failed = SipEngine(EngineSettings(bind_address="127.0.0.1", sip_port=port, transports=("udp",)))
        with pytest.raises(EngineError, match="did not start") as refused:
            failed.start()
    with running_engine(EngineSettings(bind_address="127.0.0.1", sip_port=0, media_port_start=0)) as engine:
        assert engine.running
    assert refused.value.__cause__ is not None
