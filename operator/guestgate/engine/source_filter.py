"""Only the trunks' peers reach pjsua: the kernel keeps everyone else away from its SIP sockets.

Scanners sweep every public SIP port. pjsua answers out-of-dialog OPTIONS itself, and pjsua2
has no hook to refuse them, so the refusal happens before pjsip sees the packet: a classic BPF
socket filter (SO_ATTACH_FILTER) on pjsua's UDP socket and TCP/TLS listeners passes datagrams
and SYNs whose source address is a peer, and drops the rest. Anything else gets nothing,
whatever the CNI does with NetworkPolicies.

Recent kernels let only CAP_NET_ADMIN filter a TCP socket, which a non-root pod lacks. There the
TCP/TLS listener is steered instead: pjsip's listener shares its port (SO_REUSEPORT) with a sink
listener of ours that never accepts, and a reuseport program (SO_ATTACH_REUSEPORT_CBPF, no
capability needed) sends each SYN from a peer to pjsip's listener and every other one to the
sink, where it waits in a one-slot queue and is then dropped. pjsip never sees a non-peer, so a
flood of connections cannot exhaust its 64 I/O queue slots (an assertion that aborts the
process, measured by `make bench ONLY=peer_filter`).

The UDP socket takes one thing more: the engine's own wake-up datagrams (engine.wake), at most
32 bytes, which pjsip's UDP transport reads and ignores, from the engine's own address only.
No SIP message is that short, so a peer loses nothing by the size rule.

`source_program` and `is_peer` are pure (tested with tables); the rest is the I/O edge.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import socket
from collections.abc import Iterable
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Instruction = tuple[int, int, int, int]  # code, jt, jf, k (struct sock_filter)
SocketKind = Literal["udp", "tcp"]

# Classic BPF opcodes (linux/filter.h).
LD_W_ABS = 0x20
LD_B_ABS = 0x30
ALU_RSH_K = 0x74
JMP_JA = 0x05
JMP_JEQ_K = 0x15
RET_K = 0x06
LD_W_LEN = 0x80
JMP_JGT_K = 0x25
# The largest datagram pjsip's UDP transport ignores (MIN_SIZE in sip_transport_udp.c), with the
# UDP header the filter's packet length counts.
WAKE_MAX_PAYLOAD = 32
UDP_HEADER = 8
# The filter sees the packet from its transport header; negative offsets from SKF_NET_OFF
# reach the IP header, where the source address is.
SKF_NET_OFF = -0x100000
IPV4_SOURCE = 12
IPV6_SOURCE = 8
ACCEPT = 0xFFFFFFFF  # keep the whole packet
DROP = 0
BPF_MAXINSNS = 4096
SO_ATTACH_FILTER = 26
SO_ATTACH_REUSEPORT_CBPF = 51
# A TCP port's reuseport group in the order the listeners joined it: pjsip's, then our sink.
PJSIP_LISTENER, SINK_LISTENER = 0, 1
FILTERED = "filtered"
STEERED = "steered"  # non-peers' connections go to the sink (the kernel refused a TCP filter)


def _net(offset: int) -> int:
    return (SKF_NET_OFF + offset) & 0xFFFFFFFF


def _canonical(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is (how a dual-stack socket shows IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def source_program(addresses: Iterable[str], matched: int = ACCEPT, unmatched: int = DROP) -> list[Instruction]:
    """A program returning matched for packets whose IPv4/IPv6 source is one of addresses, else
    unmatched: a socket filter by default (keep or drop), or a reuseport selector (the index
    of the listener that gets the connection).

    Every conditional jump is short (0 or 1 forward, or within one IPv6 block), so any number
    of addresses fits the 8-bit jump fields; ValueError when the program would exceed the
    kernel's limit (about 450 IPv6 or 2,000 IPv4 peers) or an address is not an IP literal.
    """
    v4: set[int] = set()
    v6: set[bytes] = set()
    for text in addresses:
        address = _canonical(ipaddress.ip_address(text.strip("[]")))
        if isinstance(address, ipaddress.IPv4Address):
            v4.add(int(address))
        else:
            v6.add(address.packed)
    v4_block: list[Instruction] = [(LD_W_ABS, 0, 0, _net(IPV4_SOURCE))]
    for value in sorted(v4):
        v4_block += [(JMP_JEQ_K, 0, 1, value), (RET_K, 0, 0, matched)]
    v4_block.append((RET_K, 0, 0, unmatched))
    v6_block: list[Instruction] = []
    for packed in sorted(v6):
        words = [int.from_bytes(packed[i : i + 4], "big") for i in range(0, 16, 4)]
        for index, word in enumerate(words):
            remaining = (3 - index) * 2  # the loads and compares after this compare, to skip
            v6_block += [(LD_W_ABS, 0, 0, _net(IPV6_SOURCE + 4 * index)), (JMP_JEQ_K, 0, remaining + 1, word)]
        v6_block.append((RET_K, 0, 0, matched))
    v6_block.append((RET_K, 0, 0, unmatched))
    head: list[Instruction] = [
        (LD_B_ABS, 0, 0, _net(0)),
        (ALU_RSH_K, 0, 0, 4),  # the IP version
        (JMP_JEQ_K, 0, 1, 4),
        (JMP_JA, 0, 0, 3),  # to the IPv4 block
        (JMP_JEQ_K, 0, 1, 6),
        (JMP_JA, 0, 0, 1 + len(v4_block)),  # over the drop and the IPv4 block
        (RET_K, 0, 0, unmatched),
    ]
    program = head + v4_block + v6_block
    if len(program) > BPF_MAXINSNS:
        raise ValueError(f"{len(v4)} IPv4 and {len(v6)} IPv6 peers do not fit one socket filter")
    return program


def udp_program(peers: Iterable[str], wake_sources: Iterable[str] = ()) -> list[Instruction]:
    """The UDP socket's filter: datagrams of the wake-up size from wake_sources only (pjsip ignores
    them; engine.wake), every longer one from peers only."""
    wake = source_program(wake_sources)
    if len(wake) > 255:
        raise ValueError("too many wake-up sources for one jump")
    program = [(LD_W_LEN, 0, 0, 0), (JMP_JGT_K, len(wake), 0, UDP_HEADER + WAKE_MAX_PAYLOAD)]
    program += wake + source_program(peers)
    if len(program) > BPF_MAXINSNS:
        raise ValueError("the peers and the wake-up sources do not fit one socket filter")
    return program


def run_program(program: list[Instruction], packet_ip_header: bytes, length: int = 500) -> int:
    """Evaluate a program as the kernel would on a packet with this IP header and `length` bytes
    from its transport header on (tests, debugging)."""
    pc = accumulator = 0
    while True:
        code, jt, jf, k = program[pc]
        if code == LD_W_LEN:
            accumulator = length
        elif code in (LD_W_ABS, LD_B_ABS):
            offset = k - (SKF_NET_OFF & 0xFFFFFFFF)
            size = 4 if code == LD_W_ABS else 1
            chunk = packet_ip_header[offset : offset + size]
            if len(chunk) < size:
                return DROP  # the kernel drops a packet the filter reads beyond
            accumulator = int.from_bytes(chunk, "big")
        elif code == ALU_RSH_K:
            accumulator >>= k
        elif code == JMP_JA:
            pc += k
        elif code == JMP_JEQ_K:
            pc += jt if accumulator == k else jf
        elif code == JMP_JGT_K:
            pc += jt if accumulator > k else jf
        elif code == RET_K:
            return k
        else:
            raise ValueError(f"opcode {code:#x} is not one source_program emits")
        pc += 1


class _SockFprog(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def attach(fd: int, program: list[Instruction], option: int = SO_ATTACH_FILTER) -> None:
    """Attach (or replace) the filter of the socket behind fd (or its reuseport group's selector)."""
    array = (ctypes.c_uint64 * len(program))(
        *(code | (jt << 16) | (jf << 24) | (k << 32) for code, jt, jf, k in program)
    )
    fprog = _SockFprog(len(program), ctypes.addressof(array))
    with socket.socket(fileno=os.dup(fd)) as sock:  # closing the duplicate leaves pjsua's socket open
        # The kernel copies the program during the call; `array` outlives it.
        sock.setsockopt(socket.SOL_SOCKET, option, bytes(fprog))


def listening_sockets(port: int, kind: SocketKind) -> list[int]:
    """This process's fds for a UDP socket bound to port, or a TCP socket listening on it."""
    wanted = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    found: list[int] = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        with contextlib.suppress(OSError):
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(fd)) as sock:
                if sock.type != wanted or sock.family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                if sock.getsockname()[1] != port:
                    continue
                if kind == "tcp" and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    continue
                found.append(fd)
    return found


def is_peer(source: str, peers: Iterable[str]) -> bool:
    """Whether source (an IP, maybe bracketed or IPv4-mapped) is one of peers (IP literals)."""

    def normal(text: str) -> IPAddress | str:
        try:
            return _canonical(ipaddress.ip_address(text.strip("[]").split("%", 1)[0]))
        except ValueError:
            return text

    wanted = normal(source)
    return any(normal(peer) == wanted for peer in peers)


class SourceFilter:
    """The peer filter of this process's SIP sockets; owns the sink listeners it opens."""

    def __init__(self) -> None:
        self._sinks: dict[tuple[str, int], socket.socket] = {}

    def apply(
        self, listeners: Iterable[tuple[str, str, int, SocketKind]], addresses: Iterable[str],
        wake_sources: Iterable[str] = (),
    ) -> dict[str, str]:
        """Filter (or steer) every listener (name, bound host, port, kind): {name: "filtered",
        "steered: ..." or why neither}. Call again when the peers change. The UDP socket also
        takes wake-up datagrams from wake_sources (engine.wake)."""
        peers = list(addresses)
        programs = {"tcp": source_program(peers), "udp": udp_program(peers, wake_sources)}
        outcome: dict[str, str] = {}
        for name, host, port, kind in listeners:
            fds = listening_sockets(port, kind)
            if not fds:
                outcome[name] = f"unfiltered: no {kind} socket on port {port}"
                continue
            try:
                for fd in fds:
                    attach(fd, programs[kind])
                outcome[name] = FILTERED
            except PermissionError:
                outcome[name] = self._steer(host, port, peers)
        return outcome

    def _steer(self, host: str, port: int, peers: list[str]) -> str:
        why = "the kernel lets only CAP_NET_ADMIN filter TCP sockets"
        try:
            sink = self._sinks.get((host, port)) or self._open_sink(host, port)
            attach(sink.fileno(), source_program(peers, PJSIP_LISTENER, SINK_LISTENER), SO_ATTACH_REUSEPORT_CBPF)
        except OSError as error:
            return f"unfiltered: {why}, and steering failed: {error}"
        return f"{STEERED}: non-peers' connections go to a listener that never accepts ({why})"

    def _open_sink(self, host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sink = socket.socket(family, socket.SOCK_STREAM)
        try:
            sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sink.bind((host, port))  # EADDRINUSE unless pjsip's listener has SO_REUSEPORT too
            sink.listen(0)  # one connection waits, unaccepted; the kernel drops the SYNs after it
        except OSError:
            sink.close()
            raise
        self._sinks[(host, port)] = sink
        return sink

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
