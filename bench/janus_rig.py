"""The reference of the browser-leg parts: the Janus gateway (Debian package `janus`) with its SIP
plugin, run as our own process with its own configuration folder, HTTP API on 127.0.0.1.

Only the SIP plugin and the HTTP transport are loaded (a private plugins and transports folder
holding just those two), ICE gathers on 127.0.0.1 only, the SIP plugin binds 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JANUS = Path("/usr/bin/janus")
LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")


def janus_missing() -> str:
    """Why Janus cannot be driven here ("" when it can)."""
    for needed in (JANUS, LIBDIR / "plugins" / "libjanus_sip.so", LIBDIR / "transports" / "libjanus_http.so"):
        if not needed.exists():
            return f"{needed} is missing (Debian package `janus` not installed?)"
    return ""


def janus_reference() -> tuple[str, str]:
    """(why Janus cannot be driven here, "" when it can; the address its WebRTC leg will use)."""
    why_not, ice_ip = janus_missing(), host_ipv4()
    if not why_not and not ice_ip:
        why_not = "Janus never gathers ICE candidates on loopback and this host has no other IPv4 address"
    return why_not, ice_ip


def janus_note(ice_ip: str) -> str:
    return f"Janus: {janus_version()}, SIP plugin only; " + LOOPBACK_NOTE.format(ip=ice_ip)


def janus_version() -> str:
    try:
        out = subprocess.run([str(JANUS), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    for line in out.splitlines():
        if "Janus" in line or "version" in line.lower():
            return line.strip()
    return out.strip().splitlines()[0] if out.strip() else "?"


# Janus never gathers ICE candidates on a loopback interface: src/ice.c (janus_ice_setup_local)
# skips every interface flagged IFF_LOOPBACK before its enforce list is consulted, and has no
# option against it. So its WebRTC leg uses the host's own address, which the kernel delivers over
# the loopback device too (it never reaches a wire); SIP and RTP towards the peer stay on 127.0.0.1.
LOOPBACK_NOTE = (
    "Janus 1.1.2 skips loopback interfaces when gathering ICE candidates (src/ice.c, IFF_LOOPBACK, "
    "no option), so its WebRTC leg runs on this host's own address {ip} (delivered locally by the "
    "kernel, never on a wire); its SIP and RTP to the peer stay on 127.0.0.1"
)


def host_ipv4() -> str:
    """This host's first IPv4 address on an interface that is up and not loopback ("" if none)."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=5).stdout
        interfaces = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return ""
    for interface in interfaces:
        if "LOOPBACK" in interface.get("flags", []) or "UP" not in interface.get("flags", []):
            continue
        for address in interface.get("addr_info", []):
            if address.get("family") == "inet" and address.get("local"):
                return str(address["local"])
    return ""


def write_janus_config(root: Path, http_port: int, rtp_range: tuple[int, int], ice_ip: str) -> Path:
    configs = root / "etc"
    plugins = root / "plugins"
    transports = root / "transports"
    empty = root / "none"
    for folder in (configs, plugins, transports, empty):
        folder.mkdir(parents=True, exist_ok=True)
    for folder, name, kind in ((plugins, "libjanus_sip.so", "plugins"), (transports, "libjanus_http.so", "transports")):
        link = folder / name
        if not link.exists():
            link.symlink_to(LIBDIR / kind / name)
    low, high = rtp_range
    middle = (low + high) // 2  # ICE/DTLS sockets below, the SIP plugin's plain RTP above
    (configs / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{configs}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{empty}"
    loggers_folder = "{empty}"
    debug_level = 3
    log_to_stdout = true
    session_timeout = 120
    server_name = "bench"
}}
certificates: {{
}}
media: {{
    rtp_port_range = "{low}-{middle}"
    ipv6 = false
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{ice_ip}"
    ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
events: {{
    broadcast = false
}}
"""
    )
    (configs / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {http_port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
cors: {{
}}
"""
    )
    (configs / "janus.plugin.sip.jcfg").write_text(
        f"""general: {{
    local_ip = "127.0.0.1"
    sdp_ip = "127.0.0.1"
    keepalive_interval = 0
    behind_nat = false
    register_ttl = 3600
    rtp_port_range = "{middle + 1}-{high}"
    sip_timer_t1x64 = 32000
    events = false
}}
"""
    )
    return configs


@dataclass
class Janus:
    process: subprocess.Popen[bytes]
    log: Path
    url: str  # http://127.0.0.1:<port>/janus

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def janus_request(url: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def start_janus(root: Path, http_port: int, rtp_range: tuple[int, int], ice_ip: str, timeout: float = 20.0) -> Janus:
    configs = write_janus_config(root, http_port, rtp_range, ice_ip)
    log = root / "janus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(JANUS), "-F", str(configs), "-C", str(configs / "janus.jcfg")],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "G_MESSAGES_DEBUG": ""},
        )
    janus = Janus(process, log, f"http://127.0.0.1:{http_port}/janus")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            info = janus_request(janus.url + "/info", timeout=2)
            if "janus.plugin.sip" in info.get("plugins", {}):
                return janus
            raise RuntimeError(f"Janus started without its SIP plugin: {sorted(info.get('plugins', {}))}")
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait(5)
    raise RuntimeError(f"Janus did not start: {log.read_text(errors='replace')[-3000:]}")
