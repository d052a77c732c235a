"""The peer filter: the BPF programs as tables of packets, then on real kernel sockets, filtering
and (where the kernel refuses a TCP filter) steering."""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import subprocess
import sys
from typing import Any

import pytest

from guestgate.engine.source_filter import (
    ACCEPT,
    DROP,
    attach,
    is_peer,
    listening_sockets,
    run_program,
    source_program,
    udp_program,
)
from guestgate.render.workload import SIGNAL_UID
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import as_unprivileged


def ipv4_header(source: str) -> bytes:
    return struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        40,
        0,
        0,
        64,
        17,
        0,
        ipaddress.IPv4Address(source).packed,
        ipaddress.IPv4Address("10.0.0.9").packed,
    )


def ipv6_header(source: str) -> bytes:
    return struct.pack(
        "!IHBB16s16s",
        6 << 28,
        20,
        17,
        64,
        ipaddress.IPv6Address(source).packed,
        ipaddress.IPv6Address("fd00::9").packed,
    )


PEERS = ["192.0.2.10", "192.0.2.11", "2001:db8::5", "::ffff:198.51.100.7"]

CASES = [
    ("a v4 peer", ipv4_header("192.0.2.10"), ACCEPT),
    ("the other v4 peer", ipv4_header("192.0.2.11"), ACCEPT),
    ("a v4-mapped peer, given as IPv6", ipv4_header("198.51.100.7"), ACCEPT),
    ("a v4 neighbour", ipv4_header("192.0.2.12"), DROP),
    ("loopback is no peer", ipv4_header("127.0.0.1"), DROP),
    ("a v6 peer", ipv6_header("2001:db8::5"), ACCEPT),
    ("v6, first word differs", ipv6_header("2001:db9::5"), DROP),
    ("v6, last word differs", ipv6_header("2001:db8::6"), DROP),
    ("v6, a middle word differs", ipv6_header("2001:db8:0:1::5"), DROP),
    ("neither v4 nor v6", b"\x50" + bytes(39), DROP),
    ("a header cut short", ipv4_header("192.0.2.10")[:13], DROP),
]


@pytest.mark.parametrize(("case", "header", "verdict"), CASES, ids=[c[0] for c in CASES])
def test_the_program_passes_peers_only(case: str, header: bytes, verdict: int) -> None:
    assert run_program(source_program(PEERS), header) == verdict, case


def test_no_peers_drops_everything() -> None:
    program = source_program([])
    assert run_program(program, ipv4_header("192.0.2.10")) == DROP
    assert run_program(program, ipv6_header("2001:db8::5")) == DROP


def test_every_jump_fits_and_many_peers_work() -> None:
    many = [str(ipaddress.IPv4Address("10.0.0.0") + i) for i in range(1500)]
    many += [str(ipaddress.IPv6Address("fd00::") + i) for i in range(100)]
    program = source_program(many)
    assert all(jt < 256 and jf < 256 for _, jt, jf, _ in program)
    assert run_program(program, ipv4_header("10.0.5.219")) == ACCEPT
    assert run_program(program, ipv6_header("fd00::63")) == ACCEPT
    assert run_program(program, ipv6_header("fd00::64")) == DROP


# (case, source, bytes from the UDP header on, verdict): the engine's wake-ups come from its own
# address (127.0.0.1 here) and are 1 byte long; pjsip ignores up to 32 bytes, SIP is far longer.
UDP_CASES = [
    ("SIP from a peer", ipv4_header("192.0.2.10"), 8 + 400, ACCEPT),
    ("SIP from the engine's own address", ipv4_header("127.0.0.1"), 8 + 400, DROP),
    ("a wake-up from the engine's own address", ipv4_header("127.0.0.1"), 8 + 1, ACCEPT),
    ("the longest datagram pjsip ignores, from the engine", ipv4_header("127.0.0.1"), 8 + 32, ACCEPT),
    ("one byte longer, from the engine", ipv4_header("127.0.0.1"), 8 + 33, DROP),
    ("a tiny datagram from a peer (pjsip would ignore it)", ipv4_header("192.0.2.10"), 8 + 4, DROP),
    ("a tiny datagram from anyone else", ipv4_header("203.0.113.9"), 8 + 1, DROP),
    ("SIP from anyone else", ipv4_header("203.0.113.9"), 8 + 400, DROP),
    ("a v6 peer", ipv6_header("2001:db8::5"), 8 + 400, ACCEPT),
]


@pytest.mark.parametrize(("case", "header", "length", "verdict"), UDP_CASES, ids=[c[0] for c in UDP_CASES])
def test_the_udp_program_takes_the_engines_wake_ups_too(case: str, header: bytes, length: int, verdict: int) -> None:
    assert run_program(udp_program(PEERS, ["127.0.0.1"]), header, length) == verdict, case


def test_without_wake_up_sources_the_udp_program_is_the_peers_filter() -> None:
    program = udp_program(PEERS)
    assert run_program(program, ipv4_header("127.0.0.1"), 9) == DROP
    assert run_program(program, ipv4_header("192.0.2.10"), 408) == ACCEPT


@pytest.mark.parametrize("bad", ["cucm.example.com", "10.0.0.300", ""])
def test_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        source_program([bad])


def test_too_many_peers_are_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        source_program([str(ipaddress.IPv6Address("fd00::") + i) for i in range(500)])


KERNEL_CASES = [
    # name, family of the server's sockets, address they bind, client's family and address, the peer
    # lists that let the client in and that keep it out
    ("IPv4 on 127.0.0.1", socket.AF_INET, "127.0.0.1", socket.AF_INET, "127.0.0.1", ["127.0.0.1"], ["192.0.2.10"]),
    ("IPv6 on ::1", socket.AF_INET6, "::1", socket.AF_INET6, "::1", ["::1"], ["2001:db8::5"]),
    ("IPv4 client of an IPv6 socket, the peer given v4-mapped", socket.AF_INET6, "::ffff:127.0.0.1",
     socket.AF_INET, "127.0.0.1", ["::ffff:127.0.0.1"], ["::ffff:192.0.2.10"]),
    ("IPv4 client of an IPv6 socket, the peer given as IPv4", socket.AF_INET6, "::ffff:127.0.0.1",
     socket.AF_INET, "127.0.0.1", ["127.0.0.1"], ["::1"]),
]


@pytest.mark.parametrize(("case", "family", "bind", "client_family", "client", "allowed", "other"), KERNEL_CASES,
                         ids=[c[0] for c in KERNEL_CASES])
def test_the_kernel_drops_what_the_program_drops(
    case: str, family: int, bind: str, client_family: int, client: str, allowed: list[str], other: list[str]
) -> None:
    """Real sockets on loopback: a datagram and a TCP connection pass while the client's address
    is allowed, and nothing arrives once only another address is (the kernel, not our interpreter,
    runs the program on the packet it received: IPv6, or IPv4 on a dual-stack socket)."""
    with socket.socket(family, socket.SOCK_DGRAM) as server, socket.socket(family, socket.SOCK_STREAM) as listener:
        # A port below the ephemeral range: no outgoing connection can hold the TCP twin of a UDP
        # port the kernel just picked (seen: EADDRINUSE on the listener).
        port = free_port()
        server.bind((bind, port))
        listener.bind((bind, port))
        listener.listen()
        assert listening_sockets(port, "udp") and listening_sockets(port, "tcp")
        for fd in listening_sockets(port, "udp") + listening_sockets(port, "tcp"):
            attach(fd, source_program(allowed))
        server.settimeout(2)
        with socket.socket(client_family, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"allowed", (client, port))
            assert server.recv(100) == b"allowed", case
        socket.create_connection((client, port), timeout=2).close()

        for fd in listening_sockets(port, "udp") + listening_sockets(port, "tcp"):
            attach(fd, source_program(other))
        server.settimeout(0.5)
        with socket.socket(client_family, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"dropped", (client, port))
            with pytest.raises(TimeoutError):
                server.recv(100)
        with pytest.raises(TimeoutError):
            socket.create_connection((client, port), timeout=1).close()


STEERING_SCRIPT = """
import json, socket, sys
from guestgate.engine.source_filter import SourceFilter
port = int(sys.argv[1])  # free for UDP and TCP, below the ephemeral range (free_port)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", port))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # pjsip's listener, as the engine configures it
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); tcp.bind(("127.0.0.1", port)); tcp.listen()
tcp.settimeout(1.0)
source_filter = SourceFilter()
listeners = [("udp", "127.0.0.1", port, "udp"), ("tcp", "127.0.0.1", port, "tcp")]
outcome = source_filter.apply(listeners, ["127.0.0.2"])
def connect(source):
    client = socket.socket(); client.setblocking(False); client.bind((source, 0))
    client.connect_ex(("127.0.0.1", port))
    return client
reached = {}
for source in ["127.0.0.2", "127.0.0.1", "127.0.0.3", "127.0.0.2"]:
    client = connect(source)
    try:
        accepted, address = tcp.accept(); accepted.close(); reached[source] = reached.get(source, 0) + 1
    except TimeoutError:
        reached.setdefault(source, 0)
    client.close()
again = source_filter.apply(listeners, ["127.0.0.3"])  # the peers change: the program follows
client = connect("127.0.0.3")
tcp.accept()[0].close()
source_filter.close()
print(json.dumps({"outcome": outcome, "again": again, "reached": reached}))
"""


def run_as_pod_user(script: str) -> Any:
    """Run a Python script as a pod runs (uid 10001, no capabilities); the JSON it prints."""
    out = subprocess.run(
        # The port from free_port: an ephemeral one (bind to 0) was at times held by some TCP
        # connection already, and the TCP twin's bind failed (EADDRINUSE).
        as_unprivileged([sys.executable, "-c", script, str(free_port())], SIGNAL_UID),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_without_cap_net_admin_udp_is_filtered_and_tcp_steered() -> None:
    """As a pod runs (uid 10001, no capabilities): the UDP socket takes the filter; a TCP
    listener cannot, so the peers' connections are steered to it and everyone else's to a sink."""
    result = run_as_pod_user(STEERING_SCRIPT)
    assert result["outcome"]["udp"] == "filtered"
    assert result["outcome"]["tcp"].startswith("steered: "), result
    assert result["outcome"]["tcp"].endswith("(the kernel lets only CAP_NET_ADMIN filter TCP sockets)")
    assert result["reached"] == {"127.0.0.2": 2, "127.0.0.1": 0, "127.0.0.3": 0}, result
    assert result["again"]["tcp"].startswith("steered: ")


def test_steering_fails_cleanly_without_so_reuseport_on_the_listener() -> None:
    """A listener pjsip opened without SO_REUSEPORT cannot share its port: said, not raised."""
    script = STEERING_SCRIPT.replace("tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); ", "")
    script = script.split("reached = {}")[0] + "print(json.dumps(outcome))\n"
    outcome = run_as_pod_user(script)
    assert outcome["udp"] == "filtered"
    assert outcome["tcp"].startswith("unfiltered: the kernel lets only CAP_NET_ADMIN filter TCP sockets, and steering")


SELECTOR_CASES = [
    ("a peer goes to pjsip's listener", ipv4_header("192.0.2.10"), 0),
    ("a v6 peer too", ipv6_header("2001:db8::5"), 0),
    ("anyone else to the sink", ipv4_header("192.0.2.12"), 1),
    ("a v6 stranger to the sink", ipv6_header("2001:db8::6"), 1),
    ("neither v4 nor v6: the sink", b"\x50" + bytes(39), 1),
]


@pytest.mark.parametrize(("case", "header", "index"), SELECTOR_CASES, ids=[c[0] for c in SELECTOR_CASES])
def test_the_reuseport_selector_picks_pjsip_for_peers_only(case: str, header: bytes, index: int) -> None:
    assert run_program(source_program(PEERS, matched=0, unmatched=1), header) == index, case


IS_PEER_CASES = [
    ("the same IPv4", "192.0.2.10", True),
    ("a neighbour", "192.0.2.12", False),
    ("IPv4-mapped source, IPv4 peer", "::ffff:192.0.2.11", True),
    ("IPv4 source, IPv4-mapped peer", "198.51.100.7", True),
    ("bracketed IPv6", "[2001:db8::5]", True),
    ("IPv6 written longhand", "2001:0db8:0000:0000:0000:0000:0000:0005", True),
    ("IPv6 with a zone", "2001:db8::5%eth0", True),
    ("another IPv6", "2001:db8::6", False),
    ("a name is never a peer's address", "cucm.example.com", False),
    ("empty", "", False),
]


@pytest.mark.parametrize(("case", "source", "expected"), IS_PEER_CASES, ids=[c[0] for c in IS_PEER_CASES])
def test_is_peer(case: str, source: str, expected: bool) -> None:
    assert is_peer(source, PEERS) is expected, case
