"""Only the trunks' peers reach the SIP ports; web and admin stay open."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.render.network import SipSources, sip_network_policy, sip_sources
from guestgate.render.status import sip_peers_condition

from .objects import cluster, trunk


def _rules(policy: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = policy["spec"]["ingress"]
    return rules


@pytest.mark.parametrize(
    ("case", "trunks", "cidrs", "named", "reason"),
    [
        ("no trunk closes SIP", [], (), (), "NoTrunks"),
        ("IPv4 peers and fallbacks", [trunk(peer={"host": "10.0.0.1"}, fallbackPeers=[{"host": "10.0.0.2"}])],
         ("10.0.0.1/32", "10.0.0.2/32"), (), "PeersOnly"),
        ("IPv6 peer", [trunk(peer={"host": "[2001:db8::1]"})], ("2001:db8::1/128",), (), "PeersOnly"),
        ("a named peer keeps SIP open",
         [trunk(peer={"host": "cucm.example.com"}), trunk("b", peer={"host": "10.0.0.9"})],
         ("10.0.0.9/32",), ("cucm.example.com",), "PeersByName"),
        ("other clusters' trunks do not count", [trunk(cluster_ref="other", peer={"host": "10.9.9.9"})], (), (),
         "NoTrunks"),
    ],
)
def test_sip_sources_and_condition(case: str, trunks: list[Any], cidrs: tuple[str, ...], named: tuple[str, ...],
                                   reason: str) -> None:
    sources = sip_sources(cluster(), trunks)
    assert (sources.cidrs, sources.named) == (cidrs, named), case
    assert sip_peers_condition(sources).reason == reason, case


def test_policy_rules() -> None:
    gc = cluster(turn={"enabled": False})  # the TURN pods' rule: tests/render/test_turn.py
    closed = _rules(sip_network_policy(gc, SipSources((), ())))
    assert len(closed) == 2 and {p["port"] for p in closed[0]["ports"]} == {"web", "admin"}
    # Media from anyone (trunk media rarely comes from the SIP peer): rtpengine's range, pjsua's RTP.
    assert "from" not in closed[1]
    relay = gc.spec.media.ports
    assert closed[1]["ports"] == [{"protocol": "UDP", "port": relay.min, "endPort": relay.max},
                                  {"protocol": "UDP", "port": 20000, "endPort": 24999}]
    only = _rules(sip_network_policy(gc, SipSources(("10.0.0.1/32",), ())))
    assert only[1]["from"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert {(p["port"], p["protocol"]) for p in only[1]["ports"]} == {("sip-udp", "UDP"), ("sip-tcp", "TCP")}
    open_ = _rules(sip_network_policy(gc, SipSources(("10.0.0.1/32",), ("cucm",))))
    assert "from" not in open_[1]
