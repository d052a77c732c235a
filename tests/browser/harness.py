"""Processes of the browser-leg tests: the signalling server with the link pages, a pjsua2
phone, SIPp peers, and their configuration. 127.0.0.1 only; every wait is bounded."""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from guestgate.config.schema import (
    ADMIN_TOKEN_FILE,
    SIGNING_KEY_FILE,
    AccessConfig,
    ClusterConfig,
    KeepaliveConfig,
    LinkConfig,
    LinksFile,
    PeerConfig,
    PublishedConfig,
    SipListenConfig,
    TrunkProfile,
    TrunksFile,
    WebConfig,
    WithdrawnLink,
)
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import LocalRelay, start_relay
from guestgate_dev.support.signal import launch_signal_server, signal_command
from guestgate_dev.support.sipp import start_sipp as launch_sipp

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "tests" / "sip_scenarios"
OWN_SCENARIOS = Path(__file__).resolve().parent / "scenarios"
ARTIFACTS = REPO / "tests" / "artifacts" / "browser"
SIGNING_KEY = b"test-signing-key-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
ALLOWED_SITE = "https://www.example.com"
MIC_HZ = 700  # the visitor's "voice" (the fake microphone)
PHONE_HZ = 1000  # what the phone plays


def write_tone_wav(path: Path, hz: int, seconds: float = 4.0, rate: int = 48000) -> Path:
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * hz * n / rate))) for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def alaw(sample: int) -> int:
    """G.711 A-law of one s16 sample (ITU-T G.711, the segment search written out)."""
    sign = 0x80 if sample >= 0 else 0x00
    magnitude = (sample if sample >= 0 else -sample - 1) >> 3  # 13-bit magnitude (one's complement below 0)
    if magnitude < 32:
        code = magnitude >> 1
    else:
        segment = magnitude.bit_length() - 5  # 1..7
        code = (segment << 4) | ((magnitude >> segment) & 0x0F)
    return (code | sign) ^ 0x55


def write_rtp_tone_pcap(path: Path, hz: int, seconds: float) -> Path:
    """A pcap of PCMA RTP packets (20 ms each) carrying a tone, for SIPp's play_pcap_audio."""
    import dpkt

    with path.open("wb") as out:
        writer = dpkt.pcap.Writer(out)
        for index in range(int(seconds * 50)):
            samples = range(index * 160, index * 160 + 160)
            payload = bytes(alaw(int(12000 * math.sin(2 * math.pi * hz * n / 8000))) for n in samples)
            rtp = struct.pack("!BBHII", 0x80, 8, index & 0xFFFF, index * 160, 0x1234) + payload
            packet = dpkt.udp.UDP(sport=6000, dport=6002, data=rtp)
            packet.ulen = len(packet)
            ip = dpkt.ip.IP(src=bytes([127, 0, 0, 1]), dst=bytes([127, 0, 0, 1]), p=dpkt.ip.IP_PROTO_UDP, data=packet)
            ip.len = len(ip)
            frame = dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x00" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
            writer.writepkt(bytes(frame), ts=1_700_000_000 + index * 0.02)
    return path


def env() -> dict[str, str]:
    values = dict(os.environ)
    values["PYTHONPATH"] = str(REPO / "operator")
    return values


def _trunk(name: str, *ports: int, keepalive: KeepaliveConfig | None = None) -> TrunkProfile:
    return TrunkProfile(
        id=f"demo/{name}",
        namespace="demo",
        name=name,
        peers=tuple(PeerConfig(host="127.0.0.1", port=port) for port in ports),
        # SIPp scenarios take INVITEs, not OPTIONS: no keepalive unless asked for.
        keepalive=keepalive or KeepaliveConfig(interval_seconds=0),
    )


def _link(name: str, trunk: str, web_port: int, **fields: Any) -> LinkConfig:
    path = f"/call/{name}"
    defaults: dict[str, Any] = {
        "id": f"demo/{name}",
        "namespace": "demo",
        "name": name,
        "path": path,
        "url": f"http://127.0.0.1:{web_port}{path}",
        "trunk": f"demo/{trunk}",
        "destination": "2001",
        "display_name": f"Call {name}",
    }
    defaults.update(fields)
    return LinkConfig(**defaults)


@dataclass
class Ports:
    web: int = field(default_factory=free_port)
    sip: int = field(default_factory=free_port)
    admin: int = field(default_factory=free_port)
    phone: int = field(default_factory=free_port)
    cube: int = field(default_factory=free_port)
    cucm: int = field(default_factory=free_port)
    early: int = field(default_factory=free_port)
    dead: int = field(default_factory=free_port)  # nothing listens: the first peer of the failover trunk


def published(ports: Ports) -> PublishedConfig:
    now = datetime.now(UTC)
    web = ports.web
    return PublishedConfig(
        cluster=ClusterConfig(
            namespace="demo",
            name="browser",
            public_url=f"http://127.0.0.1:{web}",
            admin_port=ports.admin,
            sip=SipListenConfig(port=ports.sip, transports=("udp",)),
            web=WebConfig(port=web),
        ),
        trunks=TrunksFile(
            trunks=(
                # PCMU only (the pjsua2 wheel has no Opus): an Opus-only page is transcoded.
                _trunk("phone", ports.phone).model_copy(update={"codecs": ("PCMU",)}),
                _trunk("cube", ports.cube),
                _trunk("cucm", ports.cucm),
                _trunk("silent", ports.dead),
                _trunk("early", ports.early),
                _trunk(
                    "failover",
                    ports.dead,
                    ports.phone,
                    keepalive=KeepaliveConfig(interval_seconds=1, failure_threshold=1),
                ),
            )
        ),
        links=LinksFile(
            links=(
                _link("phone", "phone", web, access=AccessConfig(max_concurrent_calls=4, calls_per_minute_per_ip=30)),
                _link("failover", "failover", web, destination="2002"),
                _link("silent", "silent", web),
                _link("early", "early", web),
                _link("echo", "early", web),  # the early trunk's port, another SIPp scenario
                _link("video", "early", web, video_policy="sendrecv"),
                _link("watch", "early", web, video_policy="recvonly"),
                _link("auto", "silent", web, auto_call_after_seconds=1),
                _link(
                    "cube", "cube", web, destination="+442079460000", access=AccessConfig(calls_per_minute_per_ip=30)
                ),
                _link(
                    "cucm", "cucm", web, destination="+442079460001", access=AccessConfig(calls_per_minute_per_ip=30)
                ),
                _link(
                    "capped",
                    "phone",
                    web,
                    access=AccessConfig(
                        max_concurrent_calls=1, calls_per_minute_per_ip=30, allowed_origins=(ALLOWED_SITE,)
                    ),
                ),
                _link("limited", "phone", web, access=AccessConfig(calls_per_minute_per_ip=1)),
                _link("vip", "phone", web, access=AccessConfig(require_token=True)),
                _link("later", "phone", web, valid_from=now + timedelta(days=1)),
                _link("over", "phone", web, valid_from=now - timedelta(days=2), valid_until=now - timedelta(days=1)),
            ),
            withdrawn=(WithdrawnLink(path="/call/old", display_name="Call the old team"),),
        ),
    )


def write_config(root: Path, config: PublishedConfig) -> tuple[Path, Path]:
    config_dir, secrets = root / "config", root / "secrets"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, text in config.files().items():
        (config_dir / name).write_text(text)
    for rel, value in ((ADMIN_TOKEN_FILE, ADMIN_TOKEN.encode()), (SIGNING_KEY_FILE, SIGNING_KEY)):
        (secrets / rel).parent.mkdir(parents=True, exist_ok=True)
        (secrets / rel).write_bytes(value)
    return config_dir, secrets


async def offer() -> str:
    """A real WebRTC offer (aiortc as the client): the server must be able to answer it."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    web_url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(config_dir: Path, secrets: Path, log: Path, *extra: str) -> Server:
    command = signal_command(config_dir, secrets_dir=secrets, reload_seconds=1,
                             extra=["--web-metrics", *extra])
    started = launch_signal_server(command, log, env=env()).wait_ready()
    return Server(started.process, log, started.web_url)


@dataclass
class Phone:
    process: subprocess.Popen[bytes]
    log: Path

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def wait_event(self, kind: str, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [e for e in self.events() if e["event"] == kind]
            if len(seen) >= count:
                return seen
            time.sleep(0.1)
        raise AssertionError(f"phone: no {count} {kind!r} within {timeout}s; events: {self.events()[-20:]}")


def start_phone(port: int, log: Path, *extra: str) -> Phone:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "guestgate_dev.demo.phone", "--port", str(port), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env(),
        )
    phone = Phone(process, log)
    try:
        phone.wait_event("ready", timeout=15)
    except AssertionError:
        stop_process(process)
        raise
    return phone


def start_sipp(scenario: str, port: int, log: Path, calls: int = 1) -> subprocess.Popen[bytes]:
    """SIPp playing tests/sip_scenarios/<scenario>.xml, or tests/browser/scenarios/ (ours)."""
    source = next(p for p in (OWN_SCENARIOS / f"{scenario}.xml", SCENARIOS / f"{scenario}.xml") if p.exists())
    return launch_sipp(log.parent, source, port=port, calls=calls, run_seconds=120, log=log,
                       messages=log.with_suffix(".msg")).process


@dataclass
class Bench:
    """What the tests of a module share: the ports, the server, the phone, a scratch folder."""

    ports: Ports
    server: Server
    phone: Phone
    root: Path
    relay: LocalRelay  # the server's rtpengine: every browser call's media goes through it


@contextmanager
def running_bench(
    root: Path, ports: Ports, config: PublishedConfig, log_prefix: str, ring_ms: int = 3000
) -> Iterator[Bench]:
    """The server on `config` and the phone (ringing `ring_ms`, then answering with PHONE_HZ and
    listening for the page's tones); their logs are kept in ARTIFACTS as <log_prefix>-*.log."""
    config_dir, secrets = write_config(root, config)
    listen = ("--listen-hz", "440", str(MIC_HZ), str(PHONE_HZ))
    phone = start_phone(ports.phone, root / "phone.log", "--tone-hz", str(PHONE_HZ), "--ring-ms", str(ring_ms), *listen)
    relay = start_relay(root / "rtpengine.log")
    try:
        server = start_server(config_dir, secrets, root / "server.log", "--rtpengine", relay.ng)
    except BaseException:
        stop_process(phone.process)
        relay.stop()
        raise
    try:
        yield Bench(ports, server, phone, root, relay)
    finally:
        stop_process(server.process, 20)
        stop_process(phone.process)
        relay.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in root.glob("*.log"):
            shutil.copy(log, ARTIFACTS / f"{log_prefix}-{log.name}")
