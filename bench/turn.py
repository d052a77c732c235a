"""Part `turn`: what the managed TURN edge costs per relayed call, beside the same calls without it.

coturn (Debian's, started by the TURN image's entrypoint with the configuration the operator
renders) on 127.0.0.2; a media port (an echo, as a signalling pod's media port answers) on
127.0.0.3 in the TURN server's allow-list. A call is the browser leg's media: one RTP-sized
datagram (172 bytes: G.711, 20 ms) every 20 ms each way. The same N calls run twice in one
invocation: straight to the media port, then through TURN (an allocation per call, a channel to
the media port, as a browser with iceTransportPolicy relay does). Figures: coturn's CPU per
relayed call, and the round trip each way adds (client -> TURN -> media port -> TURN -> client
against client -> media port -> client).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field

from aioice.turn import create_turn_endpoint

from bench.measure import CpuWindow, ms, percentile
from bench.report import PartResult
from bench.settings import Settings
from guestgate.api.objects import GuestCluster
from guestgate.web.ice import turn_credentials
from guestgate_dev.support.coturn import start_coturn
from guestgate_dev.support.ports import free_port

SERVER_IP, MEDIA_IP = "127.0.0.2", "127.0.0.3"
SECRET = b"bench-turn-secret"
PACKET = 172
INTERVAL = 0.020
WARMUP = 0.5  # the first half second (allocation, channel bind) is not measured


@dataclass
class Stream(asyncio.DatagramProtocol):
    """One call's media: timestamps out, round trips back."""

    started: float = 0.0
    rtts: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        sent_at = struct.unpack_from("!d", data)[0]
        now = time.monotonic()
        self.received += 1
        if sent_at - self.started >= WARMUP:
            self.rtts.append(now - sent_at)


def _payload(now: float) -> bytes:
    return struct.pack("!d", now).ljust(PACKET, b"\0")


async def _run_calls(calls: int, seconds: float, echo: tuple[str, int], turn: tuple[str, int] | None) -> list[Stream]:
    loop = asyncio.get_running_loop()
    senders: list[tuple[object, Stream]] = []
    for index in range(calls):
        stream = Stream()
        if turn is None:
            transport, _ = await loop.create_datagram_endpoint(lambda s=stream: s, remote_addr=echo)  # type: ignore[misc]
            senders.append((transport, stream))
        else:
            username, password = turn_credentials(SECRET, f"bench/call-{index}", time.time())
            relay, _ = await create_turn_endpoint(lambda s=stream: s, turn, username, password)  # type: ignore[misc]
            senders.append((relay, stream))

    async def pump(sender: object, stream: Stream) -> None:
        stream.started = time.monotonic()
        deadline = stream.started + WARMUP + seconds
        tick = stream.started
        while (now := time.monotonic()) < deadline:
            if turn is None:
                sender.sendto(_payload(now))  # type: ignore[attr-defined]
            else:
                sender.sendto(_payload(now), echo)  # type: ignore[attr-defined]
            stream.sent += 1
            tick += INTERVAL
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
        await asyncio.sleep(0.3)  # the last replies

    await asyncio.gather(*(pump(sender, stream) for sender, stream in senders))
    for sender, _ in senders:
        sender.close()  # type: ignore[attr-defined]
    return [stream for _, stream in senders]


def _echo_process() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port(address=MEDIA_IP)
    process = subprocess.Popen([sys.executable, "-m", "bench.turn", "echo", MEDIA_IP, str(port)],
                               stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((MEDIA_IP, port))
            except OSError:
                return process, port
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the echo media port did not start")
        time.sleep(0.05)


def _echo(address: str, port: int) -> None:
    """The media port: every datagram goes back where it came from (bounded: 10 minutes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        sock.settimeout(1.0)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                continue
            sock.sendto(data, peer)


def _figures(streams: list[Stream]) -> tuple[float | None, float | None, int, int]:
    rtts = [rtt for stream in streams for rtt in stream.rtts]
    sent = sum(s.sent for s in streams)
    lost = sent - sum(s.received for s in streams)
    return ms(percentile(rtts, 50)), ms(percentile(rtts, 99)), sent, max(0, lost)


def run(settings: Settings) -> PartResult:
    result = PartResult("turn")
    steps = [1, 4] if settings.quick else [1, 10, 25, 50]
    seconds = 2.0 if settings.quick else 10.0
    port = free_port(address=SERVER_IP)
    relay = free_port(address=SERVER_IP)
    cluster = GuestCluster.model_validate({
        "apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster",
        "metadata": {"name": "bench", "namespace": "bench", "uid": "bench"},
        "spec": {"publicURL": "https://call.example.com",
                 "turn": {"port": port, "relayPorts": {"min": relay, "max": min(relay + 200, 65535)},
                          "quotas": {"perUser": 0, "total": 0}}},
    })
    echo, echo_port = _echo_process()
    server = start_coturn(settings.scratch("turn"), cluster, SERVER_IP, [MEDIA_IP], SECRET, ["--allow-loopback-peers"])
    table = result.table(
        "TURN edge: the same calls straight to the media port and through coturn",
        ["calls", "direct RTT p50 / p99 ms", "TURN RTT p50 / p99 ms", "added p50 ms", "coturn CPU %",
         "CPU % per call", "agent CPU %", "lost direct / TURN"],
    )
    rows = []
    try:
        for calls in steps:
            direct = asyncio.run(_run_calls(calls, seconds, (MEDIA_IP, echo_port), None))
            agent = server.agent_pid()
            window = CpuWindow([server.pid()]).start()
            agent_window = CpuWindow([agent] if agent else []).start()
            relayed = asyncio.run(_run_calls(calls, seconds, (MEDIA_IP, echo_port), server.address))
            cpu, wall = window.stop()
            agent_cpu, agent_wall = agent_window.stop()
            agent_percent = 100.0 * agent_cpu / agent_wall if agent_wall else 0.0
            d50, d99, _, d_lost = _figures(direct)
            t50, t99, _, t_lost = _figures(relayed)
            cpu_percent = 100.0 * cpu / wall if wall else 0.0
            added = (t50 - d50) if t50 is not None and d50 is not None else None
            table.add(calls, f"{d50:.2f} / {d99:.2f}" if d50 and d99 else "-",
                      f"{t50:.2f} / {t99:.2f}" if t50 and t99 else "-", added, cpu_percent,
                      cpu_percent / calls, agent_percent, f"{d_lost} / {t_lost}")
            rows.append({"calls": calls, "directP50Ms": d50, "directP99Ms": d99, "turnP50Ms": t50, "turnP99Ms": t99,
                         "addedP50Ms": added, "coturnCpuPercent": cpu_percent, "cpuPercentPerCall": cpu_percent / calls,
                         "agentCpuPercent": agent_percent, "lostDirect": d_lost, "lostTurn": t_lost,
                         "seconds": seconds})
    finally:
        server.stop()
        echo.kill()
        echo.wait()
    table.notes += [
        "a call: 172-byte datagrams every 20 ms each way (G.711 RTP), echoed by the media port; "
        f"{seconds:.0f} s per step after {WARMUP} s of warm-up",
        "coturn CPU: its process (all threads) over the relayed run, wall clock; the client (aioice, Python) "
        "and the echo are not counted",
        "agent CPU: the TURN pod's `guestgate turn-agent` (reads coturn's verbose log for the metrics) over the "
        "same run",
        "the round trips include this Python client's own scheduling (same in both columns)",
    ]
    result.data = {"steps": rows}
    return result


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "echo":
    _echo(sys.argv[2], int(sys.argv[3]))
