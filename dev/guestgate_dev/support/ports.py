"""Free ports and listening checks on a local address: what the demo, the tests and the
benchmarks need to start SIP peers, signalling servers and control planes side by side."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

from guestgate.config.rtp import ENGINE_RTP_FIRST, ENGINE_RTP_LAST

LOOPBACK = "127.0.0.1"

# Ports handed out come from below the kernel's ephemeral range: a port that is free now is only
# bound later by the process it is for, and meanwhile any bind to port 0 or outgoing connection
# (kube clients, the operator's pushes) could take an ephemeral one (seen: a bench server's admin
# port taken before it bound it). Ports are not handed out twice by one process.
# And from below the SIP engine's RTP range (20000-24999: signalling servers started here take
# their RTP there, as pods do) and the local rtpengines' blocks above it (LOCAL_RELAY_PORTS).
# Single ports come from the lower part, blocks (free_port_range) from the upper part: a whole test
# run hands out a thousand single ports or more at random, and a block among them would find none of
# its size clear of them (seen: no 400-port block for the hundred-call engine test).
_LOWEST = 10000
_BLOCKS_FROM = 15000
_handed_out: set[int] = set()
LOCAL_RELAY_PORTS = (ENGINE_RTP_LAST + 1, 29999)


def _ephemeral_start() -> int:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        start = 32768
    return min(start, ENGINE_RTP_FIRST)


def _candidate(kind: int, address: str) -> int:
    highest = min(_ephemeral_start(), _BLOCKS_FROM)
    if highest - _LOWEST < 2000:  # no room below the ephemeral range here: let the kernel pick
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((address, 0))
            return int(probe.getsockname()[1])
    return random.randrange(_LOWEST, highest)


def free_port(kind: int = socket.SOCK_DGRAM, address: str = LOOPBACK) -> int:
    """A port free for both UDP and TCP on address (SIP, SIPp and pjsua may use both)."""
    for _ in range(200):
        port = _candidate(kind, address)
        if port in _handed_out:
            continue
        try:
            for each in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, each) as probe:
                    probe.bind((address, port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port pair on {address}")


def free_media_port(address: str = LOOPBACK) -> int:
    """A port P, a multiple of 4, with P..P+3 free: RTP and RTCP for audio, and for video at P+2, which
    SIPp binds too (seen: a SIPp exiting at start, its video port handed out earlier as a single port).
    All four count as handed out."""
    for _ in range(50):
        picked = free_port(address=address)
        port = picked & ~3
        block = range(port, port + 4)
        if any(each in _handed_out for each in block if each != picked):
            continue
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in block]
        try:
            for sock, each in zip(sockets, block, strict=True):
                sock.bind((address, each))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        _handed_out.update(block)
        return port
    raise RuntimeError(f"no four free RTP ports in a row on {address}")


def _sockets(protocol: str) -> Iterator[tuple[int, str]]:
    """(local port, inode) of each socket in /proc/net/{protocol}{,6}: this network namespace's."""
    for table in (f"/proc/net/{protocol}", f"/proc/net/{protocol}6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and ":" in fields[1]:
                yield int(fields[1].rsplit(":", 1)[1], 16), fields[9]


def udp_ports_in_use() -> set[int]:
    """UDP ports bound on this machine (its network namespace) now, any address."""
    return {port for port, _ in _sockets("udp")}


def free_port_range(count: int) -> int:
    """The first of `count` consecutive ports (an even one) for one caller: a SIP engine's RTP ports
    (EngineSettings.media_port_start and media_port_count), so that engines and benchmarks running
    at once keep to ports of their own. From below the kernel's ephemeral range, like free_port, and
    above the single ports it hands out. On a busy machine a large block seldom has every port free:
    the block with the fewest ports bound or already handed out is taken, up to a tenth of them
    (pjsua moves on to the next pair when one is taken); failing that, the block with the fewest
    bound ports, even if this process handed it out before (an engine since closed, most likely)."""
    highest = _ephemeral_start()
    lowest = _BLOCKS_FROM if highest - _BLOCKS_FROM >= 4 * count else _LOWEST
    if count < 2 or highest - lowest < 2 * count:
        raise ValueError(f"no room for {count} ports below {highest}")
    busy = udp_ports_in_use()
    starts = {random.randrange(lowest, highest - count) & ~1 for _ in range(200)}
    limit = count // 10
    for avoided in (busy | _handed_out, busy):
        taken, start = min((sum(1 for port in range(start, start + count) if port in avoided), start)
                           for start in starts)
        if taken <= limit:
            _handed_out.update(range(start, start + count))
            return start
    raise RuntimeError(f"no {count} consecutive ports below {highest} with at most a tenth in use")


def udp_bound(port: int, address: str = LOOPBACK) -> bool:
    """Someone holds this UDP port (a SIPp or signalling server that has started)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return True
    return False


def bound_by(pid: int, port: int, protocol: str = "udp") -> bool:
    """Process pid holds a socket on this port (UDP bound, or TCP bound or listening): a probe bind
    fails whoever holds it, and a launcher must not take another process's port for its own."""
    inodes = {inode for bound, inode in _sockets(protocol) if bound == port}
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            target = descriptor.readlink().name
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def tcp_listening(port: int, address: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False
