"""A scanner on an address of its own: a network namespace we create, joined to the host by a
veth pair (10.254.N.1 on the host side, 10.254.N.2 inside). Root only, as the node tests.

What a SIP scanner on the internet does, from a source that is not a trunk peer, without
leaving this machine: the namespace and its veth go away with the fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]  # support.sip_send runs with tests/ as its working folder


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class ScannerNamespace:
    name: str
    host_ip: str  # the host's end: a signalling server bound here is reachable from inside
    scanner_ip: str  # the scanner's source address

    @classmethod
    def create(cls) -> ScannerNamespace:
        n = os.getpid() % 200 + 20
        name, host_if, ns_if = f"ggscan{os.getpid()}", f"ggs{n}h", f"ggs{n}n"
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
        _ip("netns", "add", name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", name)
        _ip("addr", "add", f"10.254.{n}.1/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"10.254.{n}.2/30", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        return cls(name, f"10.254.{n}.1", f"10.254.{n}.2")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)

    def exchange(self, method: str, port: int, transport: str, timeout: float = 2.0) -> dict[str, object]:
        """Send one SIP request from inside to host_ip:port: {"replies": [...], "error": "..."}."""
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.name,
                sys.executable,
                "-m",
                "support.sip_send",
                self.host_ip,
                str(port),
                method,
                transport,
                str(timeout),
            ],
            check=True,
            capture_output=True,
            cwd=TESTS,
            timeout=timeout + 20,
            text=True,
        )
        result: dict[str, object] = json.loads(out.stdout)
        return result
