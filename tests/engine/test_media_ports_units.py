"""The SIP engine's RTP ports: the checked range, the pod's range kept clear of rtpengine's, and the
blocks tests and benchmarks take (pure tables, plus the free-block finder on 127.0.0.1)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from guestgate.config.rtp import overlaps_engine_rtp
from guestgate.config.schema import PeerConfig, TrunkProfile
from guestgate.engine.config import EngineInputError, account_config, media_port_range
from guestgate_dev.support import ports
from guestgate_dev.support.ports import free_port_range, udp_ports_in_use


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (0, 0, (0, 0)),  # any free ports
        (0, 7, (0, 0)),
        (20000, 5000, (20000, 5000)),
        (65534, 2, (65534, 2)),
        (1024, 2, (1024, 2)),
    ],
)
def test_media_port_range_accepted(start: int, count: int, expected: tuple[int, int]) -> None:
    assert media_port_range(start, count) == expected


@pytest.mark.parametrize(
    ("start", "count", "says"),
    [
        (20001, 100, "even"),  # RTP on even ports
        (1022, 100, "even port from 1024"),
        (65535, 1, "even"),
        (20000, 1, "at least 2"),
        (20000, 0, "at least 2"),
        (65000, 1000, "above 65535"),
    ],
)
def test_media_port_range_refused(start: int, count: int, says: str) -> None:
    with pytest.raises(EngineInputError, match=says):
        media_port_range(start, count)


@pytest.mark.parametrize(
    ("first", "last", "overlaps"),
    [
        (30000, 30999, False),  # rtpengine's default spec.media.ports
        (49152, 65535, False),  # coturn's default relay ports
        (32768, 60999, False),  # the kernel's ephemeral ports
        (19000, 20000, True),
        (24999, 31000, True),
        (25000, 29999, False),  # the local rtpengines' blocks of a development machine
        (21000, 22000, True),
        (10000, 40000, True),
        (1024, 19999, False),
    ],
)
def test_overlaps_engine_rtp(first: int, last: int, overlaps: bool) -> None:
    assert overlaps_engine_rtp(first, last) is overlaps


def _fake_pj() -> SimpleNamespace:
    def config() -> SimpleNamespace:
        return SimpleNamespace(
            regConfig=SimpleNamespace(), callConfig=SimpleNamespace(), natConfig=SimpleNamespace(),
            sipConfig=SimpleNamespace(authCreds=[]),
            mediaConfig=SimpleNamespace(transportConfig=SimpleNamespace(port=4000, portRange=0, randomizePort=False)),
        )

    return SimpleNamespace(AccountConfig=config, PJSUA_100REL_MANDATORY=2, PJSUA_100REL_OPTIONAL=1,
                           PJSUA_SIP_TIMER_OPTIONAL=1, PJSUA_SIP_TIMER_INACTIVE=0, PJMEDIA_SRTP_DISABLED=0)


def test_account_config_puts_rtp_in_the_range() -> None:
    trunk = TrunkProfile(id="t/a", namespace="t", name="a", peers=(PeerConfig(host="127.0.0.1", port=5060),))
    cfg = account_config(_fake_pj(), trunk, "127.0.0.1", "127.0.0.1", None, None, (24000, 100))
    tc = cfg.mediaConfig.transportConfig
    # RTP at 24000..24098 (RTCP one above, 24099 the last), the first picked at random
    assert (tc.port, tc.portRange, tc.randomizePort) == (24000, 98, True)
    any_port = account_config(_fake_pj(), trunk, "127.0.0.1", "127.0.0.1", None, None, (0, 0))
    assert any_port.mediaConfig.transportConfig.port == 4000  # left to pjsua


def test_free_port_ranges_are_mostly_free_and_distinct() -> None:
    first, second = free_port_range(64), free_port_range(64)
    assert first % 2 == 0 and second % 2 == 0
    assert not set(range(first, first + 64)) & set(range(second, second + 64))
    in_use = udp_ports_in_use()
    assert sum(port in in_use for port in range(first, first + 64)) <= 6  # pjsua skips a taken pair
    pair = free_port_range(2)  # a small block: every port free
    for port in (pair, pair + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            assert probe.getsockname()[1] in udp_ports_in_use()  # what the finder sees


def test_a_large_block_is_found_after_a_long_run_of_single_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    # a whole test run hands out a thousand single ports or more: one in every 20 of the zone here
    scattered = set(range(10000, 20000, 20))
    monkeypatch.setattr(ports, "_handed_out", set(scattered))
    start = ports.free_port_range(400)
    block = set(range(start, start + 400))
    assert len(block & scattered) <= 40
    assert block <= ports._handed_out
    # blocks handed out before are avoided while others are clear; a reused one is only a fallback
    again = ports.free_port_range(400)
    assert not block & set(range(again, again + 400))
