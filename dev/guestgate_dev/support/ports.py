"""Free ports and listening checks on a local address: what the demo, the tests and the
benchmarks need to start SIP peers, signalling servers and control planes side by side."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(kind: int = socket.SOCK_DGRAM, address: str = LOOPBACK) -> int:
    """A port free for both UDP and TCP on address (SIP, SIPp and pjsua may use both)."""
    other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind((address, 0))
            port = int(first.getsockname()[1])
        with socket.socket(socket.AF_INET, other) as second:
            try:
                second.bind((address, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port pair on {address}")


def free_media_port(address: str = LOOPBACK) -> int:
    """An even UDP port with the next one free too (RTP and RTCP; SIPp echoes on even ports)."""
    for _ in range(50):
        port = free_port(address=address) & ~1
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp,
        ):
            try:
                rtp.bind((address, port))
                rtcp.bind((address, port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free RTP port pair on {address}")


def udp_bound(port: int, address: str = LOOPBACK) -> bool:
    """Someone holds this UDP port (a SIPp or signalling server that has started)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return True
    return False


def tcp_listening(port: int, address: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False
