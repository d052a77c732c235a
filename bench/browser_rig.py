"""What the browser-leg parts share: a `guestgate signal` process with a link whose trunk goes to
an echoing SIPp peer, that peer, its message trace, and a pool of synthetic callers
(bench/browser_caller.py processes). Everything on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.sip_sipp import TracedMessage, sipp_trace
from guestgate.config.schema import (
    ADMIN_TOKEN_FILE,
    SIGNING_KEY_FILE,
    AccessConfig,
    ClusterConfig,
    KeepaliveConfig,
    LimitsConfig,
    LinkConfig,
    LinksFile,
    PeerConfig,
    PublishedConfig,
    SipListenConfig,
    TrunkProfile,
    TrunksFile,
    WebConfig,
)
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.signal import launch_signal_server, signal_command
from guestgate_dev.support.sipp import start_sipp

REPO = Path(__file__).resolve().parents[1]
LINK_PATH = "/call/echo"
DESTINATION = "2001"

# A UAS that rings, answers with PCMU only and echoes RTP (SIPp -rtp_echo sends every packet that
# reaches its media port back to where it came from), then waits for the caller's BYE.
ECHO_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench-echo-uas">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 100 Trying
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]x[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]x[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 4870 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
]]></send>
  <recv request="ACK"/>
  <recv request="BYE" timeout="600000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"""


def env() -> dict[str, str]:
    values = dict(os.environ)
    values["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"), str(REPO), values.get("PYTHONPATH")]))
    return values


# ---- the echoing peer --------------------------------------------------------------------------


@dataclass
class EchoPeer:
    process: subprocess.Popen[bytes]
    port: int
    trace: Path

    def uri(self, number: str = DESTINATION) -> str:
        return f"sip:{number}@127.0.0.1:{self.port}"

    def messages(self) -> list[TracedMessage]:
        return sipp_trace(self.trace)


def start_echo_peer(root: Path, log_name: str = "peer") -> EchoPeer:
    scenario = root / "echo-uas.xml"
    scenario.write_text(ECHO_UAS)
    trace = root / f"{log_name}.msg"
    trace.unlink(missing_ok=True)
    sipp = start_sipp(
        root,
        scenario,
        calls=0,
        run_seconds=900,
        rtp_echo=True,
        messages=trace,
        log=root / f"{log_name}.log",
        extra=["-max_recv_loops", "10000"],
    )
    return EchoPeer(sipp.process, sipp.port, trace)


# ---- GuestGate: a signal process with the echo link ---------------------------------------------

SIGNING_KEY = b"bench-signing-key-0123456789abcdef"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"


@dataclass
class Signal:
    process: subprocess.Popen[bytes]
    log: Path
    web_url: str
    admin_url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"{self.admin_url}/metrics", timeout=5) as response:
            return str(response.read().decode())


def published(web: int, sip: int, admin: int, peer: int, max_calls: int = 100) -> PublishedConfig:
    url = f"http://127.0.0.1:{web}"
    return PublishedConfig(
        cluster=ClusterConfig(
            namespace="bench",
            name="browser",
            public_url=url,
            admin_port=admin,
            sip=SipListenConfig(port=sip, transports=("udp",)),
            web=WebConfig(port=web),
            limits=LimitsConfig(max_calls_per_pod=max_calls, new_calls_per_second_per_pod=1000),
        ),
        trunks=TrunksFile(
            trunks=(
                TrunkProfile(
                    id="bench/echo",
                    namespace="bench",
                    name="echo",
                    peers=(PeerConfig(host="127.0.0.1", port=peer),),
                    keepalive=KeepaliveConfig(interval_seconds=0),  # SIPp answers INVITEs, not OPTIONS
                ),
            )
        ),
        links=LinksFile(
            links=(
                LinkConfig(
                    id="bench/echo",
                    namespace="bench",
                    name="echo",
                    path=LINK_PATH,
                    url=url + LINK_PATH,
                    trunk="bench/echo",
                    destination=DESTINATION,
                    display_name="Bench echo",
                    access=AccessConfig(max_concurrent_calls=max_calls, calls_per_minute_per_ip=100000),
                ),
            )
        ),
    )


def start_signal(
    root: Path,
    peer_port: int,
    name: str = "signal",
    timeout: float = 40.0,
    relay: str | None = None,
    max_calls: int = 100,
) -> Signal:
    """`python -m guestgate.pod.serve` (what `guestgate signal` runs in a pod) with the echo link;
    `relay`: the ng address of the rtpengine that carries the calls' media (without one the server
    refuses every call: media-unavailable)."""
    folder = root / name
    config_dir, secrets = folder / "config", folder / "secrets"
    config_dir.mkdir(parents=True, exist_ok=True)
    web, sip, admin = free_port(), free_port(), free_port()
    for file_name, text in published(web, sip, admin, peer_port, max_calls).files().items():
        (config_dir / file_name).write_text(text)
    for rel, value in ((ADMIN_TOKEN_FILE, ADMIN_TOKEN.encode()), (SIGNING_KEY_FILE, SIGNING_KEY)):
        (secrets / rel).parent.mkdir(parents=True, exist_ok=True)
        (secrets / rel).write_bytes(value)
    extra = ["--rtpengine", relay] if relay else []
    command = signal_command(config_dir, secrets_dir=secrets, extra=extra)
    started = launch_signal_server(command, folder / "signal.log", env=env()).wait_ready(timeout)
    return Signal(started.process, started.log, started.web_url, started.admin_url)


def sip_call_ids(signal: Signal) -> dict[str, str]:
    """The server's log: browser call id -> the SIP Call-ID it placed."""
    found = {}
    for match in re.finditer(
        r"browser call placed call=(\w+) .*?sip_call_id=(\S+)", signal.log.read_text(errors="replace")
    ):
        found[match.group(1)] = match.group(2).strip('",')
    return found


def metric_values(text: str, name: str) -> dict[str, float]:
    """Prometheus text -> {label set: value} for one metric name."""
    values = {}
    for line in text.splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                values[key[len(name) :]] = float(value)
    return values


# ---- callers -------------------------------------------------------------------------------------


@dataclass
class Callers:
    """Caller processes (bench.browser_caller), their events as they come."""

    processes: list[subprocess.Popen[bytes]]
    events: list[dict[str, Any]] = field(default_factory=list)
    _buffers: dict[int, bytes] = field(default_factory=dict)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def poll(self, timeout: float = 0.1) -> None:
        streams: dict[int, IO[bytes]] = {p.stdout.fileno(): p.stdout for p in self.processes if p.stdout is not None}
        if not streams:
            return
        ready, _, _ = select.select(list(streams), [], [], timeout)
        for fd in ready:
            chunk = os.read(fd, 65536)
            data = self._buffers.get(fd, b"") + chunk
            *lines, rest = data.split(b"\n")
            self._buffers[fd] = rest
            for line in lines:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        self.events.append(event)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.get("event") == kind)

    def wait(self, kinds: tuple[str, ...], count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(self.count(k) for k in kinds) >= count:
                return True
            if all(p.poll() is not None for p in self.processes):
                self.poll(0)
                return sum(self.count(k) for k in kinds) >= count
            self.poll(0.1)
        return False

    def stop(self, timeout: float = 15.0) -> list[dict[str, Any]]:
        for process in self.processes:
            with contextlib.suppress(OSError, ValueError):
                assert process.stdin is not None
                process.stdin.write(b"stop\n")
                process.stdin.flush()
        self.wait(("done",), len(self.processes), timeout)
        for process in self.processes:
            if process.poll() is None:
                stop_process(process)
        return [e for e in self.events if e.get("event") == "result"]


def start_callers(spec: dict[str, Any], calls: int, per_process: int, log_dir: Path) -> Callers:
    """`calls` calls over ceil(calls / per_process) caller processes, all started at once."""
    processes = []
    first = 0
    while first < calls:
        count = min(per_process, calls - first)
        log = log_dir / f"caller-{first}.log"
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.browser_caller", json.dumps(spec | {"calls": count, "first": first})],
                stdout=subprocess.PIPE,
                stdin=subprocess.PIPE,
                stderr=log.open("wb"),
                env=env(),
                cwd=REPO,
            )
        )
        first += count
    return Callers(processes)
