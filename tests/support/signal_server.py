"""A `guestgate signal` process on 127.0.0.1 fed by a config dir written from the schema models."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guestgate.config.schema import (
    ADMIN_TOKEN_FILE,
    ClusterConfig,
    PublishedConfig,
    SipListenConfig,
    TrunkProfile,
    TrunksFile,
)
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.signal import launch_signal_server, signal_command
from support.signal_helpers import free_port, guestgate_env

TOKEN = "test-admin-token-0123456789"


def write_config(config_dir: Path, cluster: ClusterConfig, trunks: list[TrunkProfile]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    files = PublishedConfig(cluster=cluster, trunks=TrunksFile(trunks=tuple(trunks))).files()
    for name, text in files.items():
        # Write then rename, as the kubelet's symlink swap: a reader never sees half a file.
        tmp = config_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(config_dir / name)


@dataclass
class SignalProcess:
    process: subprocess.Popen[bytes]
    root: Path
    cluster: ClusterConfig
    stderr_path: Path
    host: str = "127.0.0.1"  # what it is bound to: SIP, admin API and pages

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def sip_port(self) -> int:
        return self.cluster.sip.port

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.cluster.admin_port}{path}"

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = TOKEN, timeout: float = 30
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url(path), data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as error:
            raw = error.read()
            status = error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def write_trunks(self, trunks: list[TrunkProfile]) -> None:
        write_config(self.config_dir, self.cluster, trunks)

    def alive(self) -> bool:
        return self.process.poll() is None

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process, 10)


def self_signed(directory: Path, address: str = "127.0.0.1") -> None:
    """tls.crt and tls.key for `address` (openssl, as cert-manager would mount them)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={address}",
         "-addext", f"subjectAltName=IP:{address}",
         "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt")],
        check=True, capture_output=True, timeout=60,
    )


def start_signal(
    root: Path, trunks: list[TrunkProfile], tls: bool = False, bind: str = "127.0.0.1", uid: int | None = None
) -> SignalProcess:
    """Start `guestgate signal` on a fresh config dir under root; as uid (no capabilities), as a pod runs."""
    sip = SipListenConfig(port=free_port())
    if tls:
        self_signed(root / "secrets" / "tls")
        sip = SipListenConfig(port=sip.port, tls_port=free_port(socket.SOCK_STREAM),
                              transports=("udp", "tcp", "tls"), tls_cert_dir="tls")
    cluster = ClusterConfig(
        namespace="gg",
        name="edge",
        public_url="https://guest.example.com",
        admin_port=free_port(socket.SOCK_STREAM),
        sip=sip,
    )
    write_config(root / "config", cluster, trunks)
    token_file = root / "secrets" / ADMIN_TOKEN_FILE
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(TOKEN)
    if uid is not None:
        for path in [root / "secrets", *(root / "secrets").rglob("*")]:  # as fsGroup gives a pod its Secrets
            os.chown(path, uid, uid)
    command = signal_command(root / "config", bind=bind, reload_seconds=0.5, pod_name="edge-0", web_port=0)
    started = launch_signal_server(command, root / "signal.log", uid=uid, env=guestgate_env()).wait_ready(20)
    return SignalProcess(started.process, root, cluster, started.log, bind)


def sip_exchange(port: int, message: bytes, transport: str = "udp", timeout: float = 3.0, host: str = "127.0.0.1",
                 source: str = "127.0.0.1") -> list[bytes]:
    """Send one message from source to host:port; the responses that came back within timeout."""
    responses: list[bytes] = []
    deadline = time.monotonic() + timeout
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.sendto(message, (host, port))
            while time.monotonic() < deadline:
                ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    break
                data = sock.recv(65535)
                responses.append(data)
                if _final(data):
                    break
        return responses
    with socket.create_connection((host, port), timeout=timeout, source_address=(source, 0)) as sock:
        sock.sendall(message)
        buffer = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                chunk = sock.recv(65535)
            except ConnectionResetError:  # closed with our request unread: what a refusal looks like
                break
            if not chunk:
                break
            buffer += chunk
            # Responses without a body, one after another on the stream.
            if any(_final(part) for part in buffer.split(b"\r\n\r\n")):
                break
        responses.extend(part + b"\r\n\r\n" for part in buffer.split(b"\r\n\r\n") if part)
    return responses


def _final(data: bytes) -> bool:
    return data.startswith(b"SIP/2.0 ") and data[8:9] in b"23456"


def sip_message(method: str, port: int, local_port: int, transport: str = "UDP", extra: str = "",
                body: str = "") -> bytes:
    call_id = os.urandom(6).hex()
    lines = [
        f"{method} sip:guestgate@127.0.0.1:{port} SIP/2.0",
        f"Via: SIP/2.0/{transport} 127.0.0.1:{local_port};branch=z9hG4bK{os.urandom(4).hex()};rport",
        "Max-Forwards: 70",
        f"From: <sip:peer@127.0.0.1>;tag={os.urandom(3).hex()}",
        "To: <sip:guestgate@127.0.0.1>",
        f"Call-ID: {call_id}@test",
        f"CSeq: 1 {method}",
        "Contact: <sip:peer@127.0.0.1>",
    ]
    if extra:
        lines.append(extra)
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def ack_for(invite: bytes, response: bytes) -> bytes:
    """The ACK of a non-2xx final response (RFC 3261 17.1.1.3: same branch, To with the tag)."""
    head = invite.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    to = next(line for line in response.split(b"\r\n") if line.lower().startswith(b"to:"))
    lines = [head[0].replace(b"INVITE ", b"ACK ", 1)]
    for line in head[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name == b"to":
            lines.append(to)
        elif name == b"cseq":
            lines.append(line.replace(b"INVITE", b"ACK"))
        elif name in (b"via", b"from", b"call-id", b"max-forwards"):
            lines.append(line)
    lines.append(b"Content-Length: 0")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def refused_invite(port: int, transport: str = "udp") -> bytes:
    """Send an INVITE, ACK its final response (so the server frees the call at once); the response."""
    invite = sip_message("INVITE", port, 5999, transport.upper())
    reply = sip_exchange(port, invite, transport)
    if reply and transport == "udp" and _final(reply[-1]):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(ack_for(invite, reply[-1]), ("127.0.0.1", port))
    return reply[-1] if reply else b""
