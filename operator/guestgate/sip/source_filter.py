"""Only the trunks' peers reach pjsua: a kernel filter on its SIP sockets drops everyone else.

Scanners sweep every public SIP port. pjsua answers out-of-dialog OPTIONS itself, and pjsua2
has no hook to refuse them, so the refusal happens before pjsip sees the packet: a classic BPF
socket filter (SO_ATTACH_FILTER) on pjsua's UDP socket and TCP/TLS listeners passes datagrams
and SYNs whose source address is a peer, and drops the rest. Anything else gets nothing,
whatever the CNI does with NetworkPolicies.

Where the kernel refuses the filter (a TCP socket needs CAP_NET_ADMIN on recent kernels, which a
non-root pod lacks), the check moves to accept time: pjsip reports each accepted connection
before it reads from it, `connection_source` names its source (from the socket pjsip's log line
names, `accepted_socket`), and the engine shuts a non-peer's transport down unread.

`source_program`, `accepted_socket` and `is_peer` are pure (tested with tables); the rest is the
I/O edge.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Iterator
from typing import Literal

Instruction = tuple[int, int, int, int]  # code, jt, jf, k (struct sock_filter)
SocketKind = Literal["udp", "tcp"]

# Classic BPF opcodes (linux/filter.h).
LD_W_ABS = 0x20
LD_B_ABS = 0x30
ALU_RSH_K = 0x74
JMP_JA = 0x05
JMP_JEQ_K = 0x15
RET_K = 0x06
# The filter sees the packet from its transport header; negative offsets from SKF_NET_OFF
# reach the IP header, where the source address is.
SKF_NET_OFF = -0x100000
IPV4_SOURCE = 12
IPV6_SOURCE = 8
ACCEPT = 0xFFFFFFFF  # keep the whole packet
DROP = 0
BPF_MAXINSNS = 4096
SO_ATTACH_FILTER = 26
FILTERED = "filtered"
CHECKED_AT_ACCEPT = "checked at accept"  # the listener accepts anyone; non-peers are closed unread


def _net(offset: int) -> int:
    return (SKF_NET_OFF + offset) & 0xFFFFFFFF


def source_program(addresses: Iterable[str]) -> list[Instruction]:
    """A socket filter passing packets whose IPv4/IPv6 source is one of addresses.

    Every conditional jump is short (0 or 1 forward, or within one IPv6 block), so any number
    of addresses fits the 8-bit jump fields; ValueError when the program would exceed the
    kernel's limit (about 450 IPv6 or 2,000 IPv4 peers) or an address is not an IP literal.
    """
    v4: set[int] = set()
    v6: set[bytes] = set()
    for text in addresses:
        address = ipaddress.ip_address(text.strip("[]"))
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if isinstance(address, ipaddress.IPv4Address):
            v4.add(int(address))
        else:
            v6.add(address.packed)
    v4_block: list[Instruction] = [(LD_W_ABS, 0, 0, _net(IPV4_SOURCE))]
    for value in sorted(v4):
        v4_block += [(JMP_JEQ_K, 0, 1, value), (RET_K, 0, 0, ACCEPT)]
    v4_block.append((RET_K, 0, 0, DROP))
    v6_block: list[Instruction] = []
    for packed in sorted(v6):
        words = [int.from_bytes(packed[i : i + 4], "big") for i in range(0, 16, 4)]
        for index, word in enumerate(words):
            remaining = (3 - index) * 2  # the loads and compares after this compare, to skip
            v6_block += [(LD_W_ABS, 0, 0, _net(IPV6_SOURCE + 4 * index)), (JMP_JEQ_K, 0, remaining + 1, word)]
        v6_block.append((RET_K, 0, 0, ACCEPT))
    v6_block.append((RET_K, 0, 0, DROP))
    head: list[Instruction] = [
        (LD_B_ABS, 0, 0, _net(0)),
        (ALU_RSH_K, 0, 0, 4),  # the IP version
        (JMP_JEQ_K, 0, 1, 4),
        (JMP_JA, 0, 0, 3),  # to the IPv4 block
        (JMP_JEQ_K, 0, 1, 6),
        (JMP_JA, 0, 0, 1 + len(v4_block)),  # over the drop and the IPv4 block
        (RET_K, 0, 0, DROP),
    ]
    program = head + v4_block + v6_block
    if len(program) > BPF_MAXINSNS:
        raise ValueError(f"{len(v4)} IPv4 and {len(v6)} IPv6 peers do not fit one socket filter")
    return program


def run_program(program: list[Instruction], packet_ip_header: bytes) -> int:
    """Evaluate a program as the kernel would on a packet with this IP header (tests, debugging)."""
    pc = accumulator = 0
    while True:
        code, jt, jf, k = program[pc]
        if code in (LD_W_ABS, LD_B_ABS):
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
        elif code == RET_K:
            return k
        else:
            raise ValueError(f"opcode {code:#x} is not one source_program emits")
        pc += 1


class _SockFprog(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def attach(fd: int, program: list[Instruction]) -> None:
    """Attach (or replace) the filter of the socket behind fd."""
    array = (ctypes.c_uint64 * len(program))(
        *(code | (jt << 16) | (jf << 24) | (k << 32) for code, jt, jf, k in program)
    )
    fprog = _SockFprog(len(program), ctypes.addressof(array))
    with socket.socket(fileno=os.dup(fd)) as sock:  # closing the duplicate leaves pjsua's socket open
        # The kernel copies the program during the call; `array` outlives it.
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


def _inet_sockets(kind: SocketKind) -> Iterator[tuple[int, socket.socket]]:
    """This process's IPv4/IPv6 sockets of one kind: (fd, a duplicate to query)."""
    wanted = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:  # closed meanwhile, or not a socket Python can wrap
            continue
        with sock:
            if sock.type == wanted and sock.family in (socket.AF_INET, socket.AF_INET6):
                yield fd, sock


def listening_sockets(port: int, kind: SocketKind) -> list[int]:
    """This process's fds for a UDP socket bound to port, or a TCP socket listening on it."""
    found: list[int] = []
    for fd, sock in _inet_sockets(kind):
        with contextlib.suppress(OSError):
            if sock.getsockname()[1] != port:
                continue
            if kind == "tcp" and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                continue
            found.append(fd)
    return found


# pjsip logs (level 4) each connection its listener accepts, with the socket, just before it
# tells the application about the new transport.
ACCEPTED_LOG = re.compile(r"got incoming TCP connection from \S+, sock=(\d+)")


def accepted_socket(log_text: str) -> int | None:
    """The fd of the connection a pjsip log line says its TCP listener accepted, else None."""
    found = ACCEPTED_LOG.search(log_text)
    return int(found.group(1)) if found else None


def connection_source(fd: int, port: int) -> str | None:
    """The peer IP of the TCP connection behind fd, if it is one accepted on local port; else None."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            if sock.type != socket.SOCK_STREAM or sock.getsockname()[1] != port:
                return None
            return str(sock.getpeername()[0])
    except (OSError, IndexError):  # closed, not a socket, not an inet socket
        return None


def is_peer(source: str, peers: Iterable[str]) -> bool:
    """Whether source (an IP, maybe bracketed or IPv4-mapped) is one of peers (IP literals)."""

    def normal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | str:
        try:
            address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
        except ValueError:
            return text
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return address

    wanted = normal(source)
    return any(normal(peer) == wanted for peer in peers)


def attach_to_listeners(listeners: Iterable[tuple[str, int, SocketKind]], addresses: Iterable[str]) -> dict[str, str]:
    """Filter every SIP listener of this process: {name: "filtered" or why not}.

    Linux lets any process filter its UDP sockets, but (on recent kernels) a TCP socket only
    with CAP_NET_ADMIN, which a non-root pod does not get: such a listener is reported, not
    fatal: the engine checks such a listener's connections at accept.
    """
    program = source_program(addresses)
    outcome: dict[str, str] = {}
    for name, port, kind in listeners:
        fds = listening_sockets(port, kind)
        if not fds:
            outcome[name] = f"unfiltered: no {kind} socket on port {port}"
            continue
        try:
            for fd in fds:
                attach(fd, program)
            outcome[name] = FILTERED
        except PermissionError:
            outcome[name] = f"{CHECKED_AT_ACCEPT}: the kernel lets only CAP_NET_ADMIN filter {kind.upper()} sockets"
    return outcome
