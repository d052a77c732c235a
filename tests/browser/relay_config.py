"""Configuration of the relay tests' own servers (test_relay_codecs, test_relay_load): each link
calls the trunk of its own name, each trunk one peer on 127.0.0.1, no keepalive (SIPp and the
phone take INVITEs, not OPTIONS)."""

from __future__ import annotations

from typing import Any

from browser.harness import Ports
from guestgate.config import schema


def relay_config(ports: Ports, name: str, trunks: dict[str, dict[str, Any]], calls: int = 4) -> schema.PublishedConfig:
    """`trunks`: link and trunk name -> the trunk's fields (`port` of its peer, codecs, dtmf...);
    `calls`: how many calls each link (and the pod) takes at once."""
    web = ports.web
    profiles = tuple(
        schema.TrunkProfile(
            id=f"demo/{trunk}",
            namespace="demo",
            name=trunk,
            peers=(schema.PeerConfig(host="127.0.0.1", port=fields["port"]),),
            keepalive=schema.KeepaliveConfig(interval_seconds=0),
            **{k: v for k, v in fields.items() if k != "port"},
        )
        for trunk, fields in trunks.items()
    )
    access = schema.AccessConfig(max_concurrent_calls=calls, calls_per_minute_per_ip=max(30, calls * 3))
    links = tuple(
        schema.LinkConfig(
            id=f"demo/{trunk}",
            namespace="demo",
            name=trunk,
            path=f"/call/{trunk}",
            url=f"http://127.0.0.1:{web}/call/{trunk}",
            trunk=f"demo/{trunk}",
            destination="2001",
            display_name=f"Call {trunk}",
            access=access,
        )
        for trunk in trunks
    )
    return schema.PublishedConfig(
        cluster=schema.ClusterConfig(
            namespace="demo",
            name=name,
            public_url=f"http://127.0.0.1:{web}",
            admin_port=ports.admin,
            sip=schema.SipListenConfig(port=ports.sip, transports=("udp",)),
            web=schema.WebConfig(port=web),
            limits=schema.LimitsConfig(max_calls_per_pod=calls * 2, new_calls_per_second_per_pod=max(10, calls * 2)),
        ),
        trunks=schema.TrunksFile(trunks=profiles),
        links=schema.LinksFile(links=links),
    )
