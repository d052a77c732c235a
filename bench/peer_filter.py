"""Peer filter: what a scanner's flood costs a signalling server, and its trunk peer.

A stranger (127.0.0.3) floods one `guestgate signal` process with OPTIONS, over UDP and then
over TCP (a connection each), while the trunk's peer (127.0.0.1) sends one OPTIONS every
20 ms and times the answer. Three servers: as root, where the kernel's socket filter drops the
stranger's datagrams and SYNs; as uid 10001 without capabilities (what a pod runs), where UDP is
filtered and the stranger's TCP connections are steered to a listener that never accepts; and,
as the reference, one that counts the stranger among its peers, so pjsua takes every request
(what a SIP stack without the rule does). Every flood is bounded in count and in time.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.diagnosis_pods import Pod, launch_pod, wait_ready
from bench.measure import CpuWindow, ms, percentile
from bench.report import PartResult, Table
from bench.settings import Settings
from guestgate.config.schema import KeepaliveConfig, PeerConfig, TrunkProfile
from guestgate.render.workload import SIGNAL_UID
from guestgate.signal.keepalive import final_status, options_request

PEER, STRANGER = "127.0.0.1", "127.0.0.3"
PROBE_INTERVAL = 0.02
ANSWER_TIMEOUT = 0.5  # a request unanswered this long counts as refused
TCP_WORKERS = 8


@dataclass
class Mode:
    name: str
    uid: int | None
    stranger_is_peer: bool


MODES = [
    Mode("kernel filter (root)", None, False),
    Mode(f"steered (uid {SIGNAL_UID})", SIGNAL_UID, False),
    Mode("reference: stranger answered", None, True),
]


@dataclass
class Flood:
    attempts: int = 0
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, answered: bool) -> None:
        with self.lock:
            self.attempts += 1
            self.answered += int(answered)


def _trunk(stranger_is_peer: bool) -> TrunkProfile:
    # Peers whose ports answer nothing: no keepalive (interval 0), only the source addresses count.
    peers = [PeerConfig(host=PEER, port=9)] + ([PeerConfig(host=STRANGER, port=9)] if stranger_is_peer else [])
    return TrunkProfile(
        id="bench/flood", namespace="bench", name="flood", peers=tuple(peers),
        keepalive=KeepaliveConfig(interval_seconds=0, failure_threshold=2),
    )


def _ask_udp(sock: socket.socket, port: int) -> float | None:
    """One OPTIONS over a bound UDP socket; seconds to its final answer, or None."""
    host, local_port = sock.getsockname()
    call_id, message = options_request(PeerConfig(host="127.0.0.1", port=port), host, local_port, "udp", "bench")
    start = time.monotonic()
    sock.sendto(message, ("127.0.0.1", port))
    deadline = start + ANSWER_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return None
        if final_status(data, call_id) is not None:
            return time.monotonic() - start
    return None


def _ask_tcp(port: int) -> bool:
    """One connection from the stranger carrying one OPTIONS: whether SIP came back."""
    try:
        address, source = ("127.0.0.1", port), (STRANGER, 0)
        with socket.create_connection(address, timeout=ANSWER_TIMEOUT, source_address=source) as sock:
            host, local_port = sock.getsockname()
            _, message = options_request(PeerConfig(host="127.0.0.1", port=port, transport="tcp"), host, local_port,
                                         "tcp", "scanner")
            sock.sendall(message)
            return sock.recv(65535).startswith(b"SIP/2.0")
    except OSError:  # timed out (SYN dropped), reset or closed unread
        return False


class PeerProbe:
    """The trunk's peer asking every PROBE_INTERVAL while a flood runs: its answer times."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.times: list[float] = []
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeerProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((PEER, 0))
            while not self._stop.is_set():
                answer = _ask_udp(sock, self.port)
                if answer is None:
                    self.unanswered += 1
                else:
                    self.times.append(answer)
                self._stop.wait(PROBE_INTERVAL)


def _tcp_flood(port: int, count: int, seconds: float) -> Flood:
    flood = Flood()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline and flood.attempts < count:
            flood.count(_ask_tcp(port))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(TCP_WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 2 * ANSWER_TIMEOUT + 5)
    return flood


def _udp_flood(port: int, count: int, seconds: float) -> Flood:
    """Datagrams as fast as one socket sends them; answers read as they come."""
    flood = Flood()
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((STRANGER, 0))
        sock.setblocking(False)
        host, local_port = sock.getsockname()
        while time.monotonic() < deadline and flood.attempts < count:
            _, message = options_request(PeerConfig(host="127.0.0.1", port=port), host, local_port, "udp", "scanner")
            with contextlib.suppress(BlockingIOError):
                sock.sendto(message, ("127.0.0.1", port))
            flood.attempts += 1
            flood.answered += _drain(sock)
        time.sleep(ANSWER_TIMEOUT)
        flood.answered += _drain(sock)
    return flood


def _drain(sock: socket.socket) -> int:
    answers = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            if sock.recv(65535).startswith(b"SIP/2.0 200"):
                answers += 1
    return answers


def _measure(
    pod: Pod, flood: Callable[[], Flood] | None, idle_seconds: float
) -> tuple[Flood, float, float, list[float], int]:
    """(the flood, its seconds, server CPU %, the peer's answer times, peer requests unanswered)."""
    window = CpuWindow([pod.process.pid]).start()
    with PeerProbe(pod.sip_port) as probe:
        started = time.monotonic()
        if flood is None:
            time.sleep(idle_seconds)
            done = Flood()
        else:
            done = flood()
        seconds = time.monotonic() - started
    cpu, wall = window.stop()
    return done, seconds, 100.0 * cpu / wall, probe.times, probe.unanswered


def _death(pod: Pod) -> str:
    """What killed a server, from its log: pjlib's assertion if there is one."""
    lines = pod.logs().splitlines()
    found = next((line for line in lines if "Assertion" in line), "")
    return found.split("Assertion", 1)[1].strip(" `'.failed")[:60] if found else f"exit {pod.process.poll()}"


def _run_mode(
    scratch: Path, index: int, mode: Mode, sizes: tuple[int, int, float, float], table: Table,
    rows: list[dict[str, object]],
) -> None:
    """One server, its three floods (none, UDP, TCP); a row each, until the server dies."""
    udp_count, tcp_count, seconds, idle_seconds = sizes
    pod = launch_pod(scratch, f"mode-{index}", [_trunk(mode.stranger_is_peer)], ("udp", "tcp"), mode.uid)
    try:
        wait_ready(pod)
        time.sleep(0.5)  # the first configuration's peers reach the filter
        floods: list[tuple[str, Callable[[], Flood] | None]] = [
            ("none", None),
            ("UDP", partial(_udp_flood, pod.sip_port, udp_count, seconds)),
            ("TCP", partial(_tcp_flood, pod.sip_port, tcp_count, seconds)),  # last: the reference dies of it
        ]
        for flood_name, flood in floods:
            done, wall, cpu, times, unanswered = _measure(pod, flood, idle_seconds)
            rate = done.attempts / wall if done.attempts else None
            p50, p99 = ms(percentile(times, 50)), ms(percentile(times, 99))
            survived = pod.process.poll() is None
            table.add(mode.name, flood_name, done.attempts, done.answered, rate, cpu, p50, p99, unanswered,
                      "yes" if survived else f"no: {_death(pod)}")
            rows.append({"server": mode.name, "flood": flood_name, "requests": done.attempts,
                         "answered": done.answered, "perSecond": rate, "serverCpuPercent": cpu,
                         "peerP50Ms": p50, "peerP99Ms": p99, "peerUnanswered": unanswered, "survived": survived})
            if not survived:
                break
    finally:
        pod.stop()


def run(settings: Settings) -> PartResult:
    quick = settings.quick
    # The uid 10001 server reads its configuration from here: a folder anyone may enter (the
    # results folder may sit in one only root enters, as pytest's temporary folders do).
    scratch = Path(tempfile.mkdtemp(prefix="guestgate-bench-peer-filter-"))
    scratch.chmod(0o755)
    result = PartResult(name="peer_filter")
    tcp_count, udp_count, seconds = (300, 5000, 1.5) if quick else (20_000, 500_000, 15.0)
    idle_seconds = 1.0 if quick else 5.0
    table = result.table(
        "A scanner's flood against one signalling server, and the trunk peer's OPTIONS meanwhile",
        ["server", "flood", "requests", "answered", "per s", "server CPU %", "peer p50 ms", "peer p99 ms",
         "peer unanswered", "server survived"],
    )
    rows: list[dict[str, object]] = []
    try:
        for index, mode in enumerate(MODES):
            _run_mode(scratch, index, mode, (udp_count, tcp_count, seconds, idle_seconds), table, rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    table.notes += [
        f"stranger {STRANGER} -> server on 127.0.0.1; peer {PEER} asks every {PROBE_INTERVAL * 1000:.0f} ms "
        f"(UDP OPTIONS, answer within {ANSWER_TIMEOUT * 1000:.0f} ms or unanswered)",
        f"UDP: one socket sending as fast as it can; TCP: {TCP_WORKERS} threads, a connection per OPTIONS; "
        f"at most {tcp_count} / {udp_count} requests or {seconds:.0f} s each",
        "filtered or steered, the stranger's SYNs are dropped: its connections time out, hence few per second",
        "reference: pjsua's I/O queue has 64 slots, and a slot freed waits 500 ms: a burst of connections it "
        "has to take aborts the process (pjlib's assertion), whoever sends them",
    ]
    result.data["rows"] = rows
    return result
