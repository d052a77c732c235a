"""GuestCluster -> its Services and PodDisruptionBudget."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guestgate.api.objects import GuestCluster, SipTrunk
from guestgate.render import names, turn
from guestgate.render.media_ports import engine_rtp_ports, policy_ports, signal_media_ports

Manifest = dict[str, Any]


def _service_ports(cluster: GuestCluster, with_admin: bool) -> list[Manifest]:
    sip = cluster.spec.sip
    ports: list[Manifest] = []
    if "udp" in sip.transports:
        ports.append({"name": "sip-udp", "port": sip.port, "targetPort": "sip-udp", "protocol": "UDP"})
    if "tcp" in sip.transports:
        ports.append({"name": "sip-tcp", "port": sip.port, "targetPort": "sip-tcp", "protocol": "TCP"})
    if "tls" in sip.transports:
        ports.append({"name": "sip-tls", "port": sip.tls_port, "targetPort": "sip-tls", "protocol": "TCP"})
    ports.append({"name": "web", "port": cluster.spec.web.port, "targetPort": "web", "protocol": "TCP"})
    if with_admin:
        ports.append({"name": "admin", "port": names.ADMIN_PORT, "targetPort": "admin", "protocol": "TCP"})
    return ports


def headless_service(cluster: GuestCluster) -> Manifest:
    """Stable per-pod DNS names; the operator reaches each pod's admin API through it."""
    c = cluster.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.child_metadata(cluster, names.headless_service_name(c)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": names.selector_labels(c),
            "ports": _service_ports(cluster, with_admin=True),
        },
    }


def service(cluster: GuestCluster) -> Manifest:
    """SIP (UDP and TCP) and web for the peer and for visitors; the admin port stays internal."""
    c = cluster.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.child_metadata(cluster, names.service_name(c)),
        "spec": {
            "type": "ClusterIP",
            "selector": names.selector_labels(c),
            "ports": _service_ports(cluster, with_admin=False),
        },
    }


def pod_disruption_budget(cluster: GuestCluster) -> Manifest:
    c = cluster.metadata.name
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": names.child_metadata(cluster, names.pdb_name(c)),
        # One pod at a time: with the default 3 replicas two keep taking calls during a drain.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.selector_labels(c)}},
    }


@dataclass(frozen=True)
class SipSources:
    """Where SIP may come from: the trunks' peers as CIDRs, and the peers named by host name."""

    cidrs: tuple[str, ...]
    named: tuple[str, ...]


def sip_sources(cluster: GuestCluster, trunks: Sequence[SipTrunk]) -> SipSources:
    cidrs: set[str] = set()
    named: set[str] = set()
    for trunk in trunks:
        if trunk.metadata.namespace != cluster.metadata.namespace or trunk.spec.cluster_ref != cluster.metadata.name:
            continue
        for peer in (trunk.spec.peer, *trunk.spec.fallback_peers):
            try:
                address = ipaddress.ip_address(peer.host.strip("[]"))
            except ValueError:
                named.add(peer.host)
            else:
                cidrs.add(f"{address}/{address.max_prefixlen}")
    return SipSources(tuple(sorted(cidrs)), tuple(sorted(named)))


def sip_network_policy(cluster: GuestCluster, sources: SipSources) -> Manifest:
    """Only the trunks' peers reach the SIP ports (scanners hit every public SIP port, and the SIP
    engine answers OPTIONS from anyone); web and admin stay open. A peer given by host name cannot
    be expressed as an address here, so then the SIP ports stay open (the pods still refuse
    INVITEs from non-peers with 403) and the GuestCluster's SipPeersOnly condition says so.

    The media ports (rtpengine's range, the SIP engine's own RTP) stay open to everyone: a trunk's
    media often comes from addresses other than its SIP peer (phones, media gateways, a CUBE's
    media flow-around), and browsers not behind TURN send from anywhere; rtpengine latches each
    stream to its source, and the browser side is DTLS-SRTP."""
    c = cluster.metadata.name
    sip_ports = [
        {"port": p["targetPort"], "protocol": p["protocol"]}
        for p in _service_ports(cluster, with_admin=False)
        if p["name"].startswith("sip-")
    ]
    other_ports = [
        {"port": p["targetPort"], "protocol": p["protocol"]}
        for p in _service_ports(cluster, with_admin=True)
        if not p["name"].startswith("sip-")
    ]
    ingress: list[Manifest] = [{"ports": other_ports}]
    if sources.named:
        ingress.append({"ports": sip_ports})
    elif sources.cidrs:
        ingress.append({"from": [{"ipBlock": {"cidr": cidr}} for cidr in sources.cidrs], "ports": sip_ports})
    ingress.append({"ports": policy_ports((*signal_media_ports(cluster), engine_rtp_ports()))})
    ingress += turn.signal_ingress_from_turn(cluster)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": names.child_metadata(cluster, names.network_policy_name(c)),
        "spec": {
            "podSelector": {"matchLabels": names.selector_labels(c)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }
