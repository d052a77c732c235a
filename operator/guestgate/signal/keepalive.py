"""OPTIONS keepalive per trunk peer: up/down with a failure threshold, and failover order.

The pings are sent by a small asyncio SIP client of their own rather than through pjsua2: an
out-of-dialog request sent from a pjsua2 Account keeps a reference to that account in its
transaction (up to 32 s), and deleting the account meanwhile (a trunk removed by a reload)
makes pjsua assert and abort the pod. Peers (CUCM, CUBE, Asterisk) accept SIP by source IP, and
the pings leave from the same IP as the calls.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from guestgate.config.schema import PeerConfig, TrunkProfile
from guestgate.engine.config import host_for_uri
from guestgate.sip.message import parse_wire

log = logging.getLogger("guestgate.signal.keepalive")

RETRANSMIT = (0.5, 1.0, 2.0)  # RFC 3261 timer E doubling from T1, cut short by the timeout
MAX_RESPONSE_BYTES = 65535
Listener = Callable[[str, PeerConfig, bool], None]  # trunk id, peer, up


def options_request(
    peer: PeerConfig, local_host: str, local_port: int, transport: str, user_agent: str
) -> tuple[str, bytes]:
    """(Call-ID, the OPTIONS message) for a peer."""
    call_id = f"{secrets.token_hex(12)}@guestgate"
    target = f"sip:{host_for_uri(peer.host)}:{peer.port}" + ("" if transport == "udp" else f";transport={transport}")
    via_host = f"{host_for_uri(local_host)}:{local_port}"
    lines = [
        f"OPTIONS {target} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {via_host};branch=z9hG4bK{secrets.token_hex(8)};rport",
        "Max-Forwards: 70",
        f"From: <sip:guestgate@{host_for_uri(local_host)}>;tag={secrets.token_hex(6)}",
        f"To: <{target}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:guestgate@{via_host}>",
        "Accept: application/sdp",
        f"User-Agent: {user_agent}",
        "Content-Length: 0",
        "",
        "",
    ]
    return call_id, "\r\n".join(lines).encode()


def final_status(data: bytes, call_id: str) -> int | None:
    """The status of a final response to our OPTIONS in data, else None (1xx, other call, junk)."""
    message = parse_wire(data)
    if message is None or message.status is None or message.call_id != call_id:
        return None
    return message.status if message.status >= 200 else None


class _UdpClient(asyncio.DatagramProtocol):
    def __init__(self, call_id: str, done: asyncio.Future[int]) -> None:
        self.call_id = call_id
        self.done = done

    def datagram_received(self, data: bytes, addr: Any) -> None:
        status = final_status(data[:MAX_RESPONSE_BYTES], self.call_id)
        if status is not None and not self.done.done():
            self.done.set_result(status)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable: the peer is down; the timeout says so


async def ping(peer: PeerConfig, local_host: str, timeout: float, user_agent: str = "GuestGate") -> int | None:
    """Send OPTIONS to a peer; its final status, or None when it did not answer within timeout."""
    try:
        return await asyncio.wait_for(_ping(peer, local_host, user_agent), timeout)
    except (TimeoutError, OSError):
        return None


def local_address_towards(host: str, port: int) -> str:
    """The local IP the kernel would use to reach host (no packet is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, port))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1" if family == socket.AF_INET else "::1"


async def _ping(peer: PeerConfig, local_host: str, user_agent: str) -> int:
    loop = asyncio.get_running_loop()
    if local_host in ("0.0.0.0", "::", ""):
        # connect() on a host name resolves it: in a thread, so slow DNS never stalls the loop
        # (the admin API and its probes share it).
        local_host = await asyncio.to_thread(local_address_towards, peer.host, peer.port)
    if peer.transport == "udp":
        done: asyncio.Future[int] = loop.create_future()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _UdpClient("", done), local_addr=(local_host, 0), remote_addr=(peer.host, peer.port)
        )
        try:
            port = int(transport.get_extra_info("sockname")[1])
            call_id, message = options_request(peer, local_host, port, "udp", user_agent)
            protocol.call_id = call_id
            for wait in (*RETRANSMIT, 3600.0):
                transport.sendto(message)
                try:
                    return await asyncio.wait_for(asyncio.shield(done), wait)
                except TimeoutError:
                    continue
            raise TimeoutError
        finally:
            transport.close()
    reader, writer = await asyncio.open_connection(peer.host, peer.port, local_addr=(local_host, 0))
    try:
        port = int(writer.get_extra_info("sockname")[1])
        call_id, message = options_request(peer, local_host, port, peer.transport, user_agent)
        writer.write(message)
        await writer.drain()
        received = b""
        while len(received) < MAX_RESPONSE_BYTES:
            chunk = await reader.read(4096)
            if not chunk:
                raise ConnectionError("peer closed the connection")
            received += chunk
            while b"\r\n\r\n" in received:
                head, _, received = received.partition(b"\r\n\r\n")
                status = final_status(head + b"\r\n\r\n", call_id)
                if status is not None:
                    return status
        raise ConnectionError("response too large")
    finally:
        writer.close()


@dataclass
class PeerState:
    peer: PeerConfig
    up: bool | None = None  # None: not pinged yet
    failures: int = 0
    last_status: int | None = None
    last_ok: float | None = None
    last_ping: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer.hostport(),
            "transport": self.peer.transport,
            "up": self.up,
            "failures": self.failures,
            "lastStatus": self.last_status,
            "lastOk": self.last_ok,
        }


@dataclass
class TrunkState:
    profile: TrunkProfile
    peers: list[PeerState] = field(default_factory=list)

    @property
    def up(self) -> bool | None:
        known = [p.up for p in self.peers if p.up is not None]
        return any(known) if known else None

    def active_peer(self) -> PeerConfig:
        """The first peer in order that is not known to be down (failover), else the first."""
        for state in self.peers:
            if state.up is not False:
                return state.peer
        return self.profile.peers[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "trunk": self.profile.id,
            # The operator waits until every pod runs the current profile before checking it.
            "profileHash": self.profile.hash(),
            "up": self.up,
            "activePeer": self.active_peer().hostport(),
            "keepaliveSeconds": self.profile.keepalive.interval_seconds,
            "peers": [p.to_dict() for p in self.peers],
        }


def record(state: PeerState, status: int | None, threshold: int, now: float) -> bool:
    """Apply one ping result; True when the peer's up/down state changed.

    Any final response counts as alive (a 404 or 405 to OPTIONS still proves a SIP stack
    answers); only silence counts as a failure, and `threshold` of them in a row mean down.
    """
    state.last_ping = now
    state.last_status = status
    before = state.up
    if status is not None:
        state.failures = 0
        state.last_ok = now
        state.up = True
    else:
        state.failures += 1
        if state.failures >= threshold:
            state.up = False
    return state.up != before


class Keepalive:
    """Pings every trunk's peers on the trunk's interval; tells listeners about up/down changes."""

    def __init__(self, local_host: str, listener: Listener | None = None, user_agent: str = "GuestGate") -> None:
        self.local_host = local_host
        self.listener = listener
        self.user_agent = user_agent
        self.trunks: dict[str, TrunkState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def update(self, profiles: Iterable[TrunkProfile]) -> None:
        """Follow a new configuration: keep the state of unchanged peers, restart changed trunks."""
        wanted = {p.id: p for p in profiles}
        for trunk_id in list(self.trunks):
            if trunk_id not in wanted:
                self._stop(trunk_id)
                del self.trunks[trunk_id]
        for trunk_id, profile in wanted.items():
            old = self.trunks.get(trunk_id)
            if old is not None and old.profile == profile:
                continue
            kept = {(s.peer.host, s.peer.port, s.peer.transport): s for s in (old.peers if old else [])}
            peers = [kept.get((p.host, p.port, p.transport)) or PeerState(p) for p in profile.peers]
            self.trunks[trunk_id] = TrunkState(profile, peers)
            self._stop(trunk_id)
            if profile.keepalive.interval_seconds > 0:
                self._tasks[trunk_id] = asyncio.get_running_loop().create_task(self._run(trunk_id))

    def active_peer(self, trunk_id: str) -> PeerConfig | None:
        state = self.trunks.get(trunk_id)
        return state.active_peer() if state else None

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for trunk_id in list(self._tasks):
            self._stop(trunk_id)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stop(self, trunk_id: str) -> None:
        task = self._tasks.pop(trunk_id, None)
        if task is not None:
            task.cancel()

    async def ping_trunk(self, trunk_id: str) -> None:
        state = self.trunks.get(trunk_id)
        if state is None:
            return
        interval = max(1, state.profile.keepalive.interval_seconds)
        timeout = min(5.0, interval * 0.8)
        results = await asyncio.gather(*(ping(p.peer, self.local_host, timeout, self.user_agent) for p in state.peers))
        now = time.time()
        for peer_state, status in zip(state.peers, results, strict=True):
            if record(peer_state, status, state.profile.keepalive.failure_threshold, now):
                log.info(
                    "peer %s trunk=%s peer=%s status=%s",
                    "up" if peer_state.up else "down",
                    trunk_id,
                    peer_state.peer.hostport(),
                    status,
                )
                if self.listener is not None:
                    self.listener(trunk_id, peer_state.peer, bool(peer_state.up))

    async def _run(self, trunk_id: str) -> None:
        while trunk_id in self.trunks:
            started = time.monotonic()
            try:
                await self.ping_trunk(trunk_id)
            except Exception:  # a bug here must not end keepalive for good
                log.exception("keepalive round failed trunk=%s", trunk_id)
            state = self.trunks.get(trunk_id)
            if state is None:
                return
            interval = state.profile.keepalive.interval_seconds
            await asyncio.sleep(max(0.1, interval - (time.monotonic() - started)))
