"""GuestCluster -> its Services and PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

from guestgate.api.objects import GuestCluster
from guestgate.render import names

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
