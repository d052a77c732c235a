"""How rtpengine is started beside a signalling pod: one command line, built here for the
sidecar container (render) and the local launchers (tests, demo, bench) alike. Pure."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

RTPENGINE = "/usr/bin/rtpengine"
DEFAULT_NG_PORT = 2223
DEFAULT_PORT_MIN = 30000
DEFAULT_PORT_MAX = 30999


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """One rtpengine: ng control on loopback only, RTP on `interface` within the port range,
    advertising `advertised` in its SDP when the pod's address is not what peers reach."""

    ng_port: int = DEFAULT_NG_PORT
    interface: str = "127.0.0.1"  # the address rtpengine binds its media ports to
    advertised: str | None = None  # the address written into SDP (a node's or load balancer's)
    port_min: int = DEFAULT_PORT_MIN
    port_max: int = DEFAULT_PORT_MAX
    media_timeout_seconds: int = 60  # a call without RTP for this long is ended by rtpengine
    log_level: int = 5  # syslog levels: 5 notice, 6 info, 7 debug

    def __post_init__(self) -> None:
        if not 1 <= self.ng_port <= 65535:
            raise ValueError(f"ng port {self.ng_port} is outside 1..65535")
        if not 1024 <= self.port_min <= self.port_max <= 65535:
            raise ValueError(f"media port range {self.port_min}-{self.port_max} must lie in 1024..65535, low to high")
        if self.port_max - self.port_min < 3:
            raise ValueError("the media port range needs at least 4 ports (RTP and RTCP for each side of a call)")
        for address in (self.interface, self.advertised):
            # "$(POD_IP)": Kubernetes puts the pod's address into a container's arguments.
            if address is not None and not (address.startswith("$(") and address.endswith(")")):
                ipaddress.ip_address(address)  # ValueError names the bad address

    @property
    def ng_address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.ng_port)


def rtpengine_args(settings: RelaySettings, binary: str = RTPENGINE) -> list[str]:
    """The daemon's command line: userspace only (no kernel table), in the foreground, logging
    to stderr; `--dtls-passive` (otherwise rtpengine sends its DTLS ClientHello before the
    browser has the answer and Chromium often never completes DTLS); sessions forgotten at once
    when deleted (so what `list` shows is what is in progress)."""
    interface = settings.interface + (f"!{settings.advertised}" if settings.advertised else "")
    return [
        binary,
        "--config-file=none",
        "--foreground",
        "--log-stderr",
        "--table=-1",
        f"--interface={interface}",
        f"--listen-ng=127.0.0.1:{settings.ng_port}",
        f"--port-min={settings.port_min}",
        f"--port-max={settings.port_max}",
        "--dtls-passive",
        "--delete-delay=0",
        f"--timeout={settings.media_timeout_seconds}",
        f"--log-level={settings.log_level}",
        "--num-threads=2",
    ]


def ng_ping_probe(ng_port: int = DEFAULT_NG_PORT) -> list[str]:
    """An exec probe for the rtpengine container: one ng ping over bash's /dev/udp (the image needs
    no client of its own), healthy when `pong` comes back within 2 s."""
    request = "probe " + "d7:command4:pinge"
    answer_bytes = len("probe d6:result4:ponge")
    return [
        "bash",
        "-c",
        f"exec 3<>/dev/udp/127.0.0.1/{ng_port} && printf '{request}' >&3 "
        f"&& timeout 2 head -c {answer_bytes} <&3 | grep -q pong",
    ]
