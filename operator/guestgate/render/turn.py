"""GuestCluster.spec.turn -> the managed TURN edge (coturn): its configuration, Deployment,
Service, NetworkPolicy and shared secret, the page's TURN URLs and the TurnReady condition.

The TURN server must never become a way into the cluster. coturn is told to deny every peer
address (`denied-peer-ip` over all of IPv4 and IPv6) and to allow only the signalling pods'
addresses, which the operator publishes in the ConfigMap's `peers` file and pushes to the TURN
pods' agents (guestgate.turn.peers); the image's entrypoint copies it into coturn's SQLite
allow-list, which coturn re-reads every few seconds, so a pod that moves is allowed again without
restarting the TURN server. coturn filters by address only; the ports are the NetworkPolicy's job
(egress to the pods' media ports, media_ports.py).

coturn runs verbose: its log is what the agent (`guestgate turn-agent`, in the same container)
turns into the guestgate_turn_* metrics on the admin port (guestgate.turn.metrics).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from guestgate.api.objects import GuestCluster
from guestgate.config.schema import TURN_SECRET_FILE, content_hash
from guestgate.render import names
from guestgate.render.conditions import ConditionChange
from guestgate.render.media_ports import policy_ports, signal_media_ports
from guestgate.turn import peers

Manifest = dict[str, Any]
TURN_UID = 10002
CONF_FILE = "turnserver.conf"
PEERS_FILE = peers.PEERS_FILE
SECRET_KEY = TURN_SECRET_FILE.split("/")[1]  # sharedSecret
ADMIN_TOKEN_KEY = "token"
# Everything coturn could be asked to relay to, denied; the allow-list (the signalling pods) wins.
DENY_ALL = ("0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")


@dataclass(frozen=True)
class TurnMounts:
    """Where the TURN container finds its files (the entrypoint reads the same defaults)."""

    config: str = "/etc/guestgate/turn"
    secret: str = "/etc/guestgate/turn-secret"
    tls: str = "/etc/guestgate/turn-tls"
    admin: str = "/etc/guestgate/turn-admin"


MOUNTS = TurnMounts()


def enabled(cluster: GuestCluster) -> bool:
    return cluster.spec.turn.enabled


def shared_secret_name(cluster: GuestCluster) -> str | None:
    """The Secret (key sharedSecret) the pods mint TURN credentials with and coturn checks them
    with: the one the user names, else the operator's generated one while TURN is managed."""
    if cluster.spec.ice.turn_secret_name:
        return cluster.spec.ice.turn_secret_name
    return names.turn_secret_name(cluster.metadata.name) if enabled(cluster) else None


def realm(cluster: GuestCluster) -> str:
    return cluster.spec.turn.realm or (urlsplit(cluster.spec.public_url).hostname or "guestgate")


def turnserver_conf(cluster: GuestCluster, mounts: TurnMounts = MOUNTS) -> str:
    """coturn's configuration file. The shared secret, the SQLite allow-list and the relay
    address are added by the entrypoint at start (they are a Secret, a file and the pod IP)."""
    turn = cluster.spec.turn
    quotas = turn.quotas
    lines = [
        f"# GuestCluster {cluster.metadata.namespace}/{cluster.metadata.name}: rendered by guestgate-operator",
        f"listening-port={turn.port}",
        f"realm={realm(cluster)}",
        # TURN REST API credentials: username "<expiry>:<link id>", password HMAC-SHA1 of it.
        "use-auth-secret",
        "fingerprint",
        f"min-port={turn.relay_ports.min}",
        f"max-port={turn.relay_ports.max}",
        f"user-quota={quotas.per_user}",
        f"total-quota={quotas.total}",
    ]
    if quotas.max_bps:
        lines.append(f"max-bps={quotas.max_bps}")
    if turn.tls_secret_name:
        lines += [
            f"tls-listening-port={turn.tls_port}",
            f"cert={mounts.tls}/tls.crt",
            f"pkey={mounts.tls}/tls.key",
            "no-tlsv1",
            "no-tlsv1_1",
        ]
    else:
        lines.append("no-tls")
    lines += [
        "no-dtls",  # browsers speak TURN over UDP, TCP or TLS, never DTLS
        "no-tcp-relay",  # RFC 6062 TCP allocations: not needed for WebRTC media
        "no-multicast-peers",
        "no-cli",
        "no-software-attribute",
        "stale-nonce=600",
        "log-file=stdout",
        "simple-log",
        # Allocations, refusals and traffic reports in the log: the agent's metrics (4.6.1 has no
        # Prometheus support built in and its CLI crashes).
        "verbose",
    ]
    lines += [f"denied-peer-ip={span}" for span in DENY_ALL]
    return "\n".join(lines) + "\n"


def peers_file(pod_ips: Sequence[str]) -> str:
    """The addresses the TURN server may relay to: the signalling pods', one per line (anything
    that is not an IP address is left out: the entrypoint writes these into SQL)."""
    return peers.peers_text(pod_ips)


def config_map(cluster: GuestCluster, pod_ips: Sequence[str]) -> Manifest:
    c = cluster.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": names.child_metadata(cluster, names.turn_name(c), names.turn_labels(c)),
        "data": {CONF_FILE: turnserver_conf(cluster), PEERS_FILE: peers_file(pod_ips)},
    }


def _secret(cluster: GuestCluster, name: str, key: str, value: bytes) -> Manifest:
    c = cluster.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": names.child_metadata(cluster, name, names.turn_labels(c)),
        "data": {key: base64.b64encode(value).decode()},
    }


def shared_secret(cluster: GuestCluster, secret: bytes) -> Manifest:
    """The generated TURN REST shared secret (created once, like the signing key)."""
    return _secret(cluster, names.turn_secret_name(cluster.metadata.name), SECRET_KEY, secret)


def admin_secret(cluster: GuestCluster, token: bytes) -> Manifest:
    """The token the operator pushes the allow-list to the TURN pods with (created once; only the
    TURN pods mount it: the signalling pods' admin token never reaches the internet-facing pods)."""
    return _secret(cluster, names.turn_admin_secret_name(cluster.metadata.name), ADMIN_TOKEN_KEY, token)


def _listen_ports(cluster: GuestCluster) -> list[tuple[str, int, str]]:
    turn = cluster.spec.turn
    ports = [("turn-udp", turn.port, "UDP"), ("turn-tcp", turn.port, "TCP")]
    if turn.tls_secret_name:
        ports.append(("turns", turn.tls_port, "TCP"))
    return ports


def deployment(cluster: GuestCluster) -> Manifest:
    c = cluster.metadata.name
    turn = cluster.spec.turn
    host_network = turn.service_type == "HostNetwork"
    privileged_port = turn.tls_secret_name is not None and turn.tls_port < 1024
    ports: list[Manifest] = []
    for name, port, protocol in _listen_ports(cluster):
        entry: Manifest = {"name": name, "containerPort": port, "protocol": protocol}
        if host_network:
            entry["hostPort"] = port
        ports.append(entry)
    admin_port: Manifest = {"name": "admin", "containerPort": names.TURN_ADMIN_PORT, "protocol": "TCP"}
    if host_network:  # on the node's network: keep the admin port behind the node's firewall
        admin_port["hostPort"] = names.TURN_ADMIN_PORT
    ports.append(admin_port)
    secret_name = shared_secret_name(cluster)
    volumes: list[Manifest] = [
        {"name": "config", "configMap": {"name": names.turn_name(c)}},
        {
            "name": "secret",
            "secret": {
                "secretName": secret_name,
                "items": [{"key": SECRET_KEY, "path": SECRET_KEY}],
                "defaultMode": 0o440,
            },
        },
        {
            "name": "admin",
            "secret": {
                "secretName": names.turn_admin_secret_name(c),
                "items": [{"key": ADMIN_TOKEN_KEY, "path": ADMIN_TOKEN_KEY}],
                "defaultMode": 0o440,
            },
        },
        {"name": "tmp", "emptyDir": {"sizeLimit": "32Mi"}},
    ]
    mounts: list[Manifest] = [
        {"name": "config", "mountPath": MOUNTS.config, "readOnly": True},
        {"name": "secret", "mountPath": MOUNTS.secret, "readOnly": True},
        {"name": "admin", "mountPath": MOUNTS.admin, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if turn.tls_secret_name:
        volumes.append({"name": "tls", "secret": {"secretName": turn.tls_secret_name, "defaultMode": 0o440}})
        mounts.append({"name": "tls", "mountPath": MOUNTS.tls, "readOnly": True})
    security: Manifest = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    pod_security: Manifest = {
        "runAsNonRoot": True,
        "runAsUser": TURN_UID,
        "runAsGroup": TURN_UID,
        "fsGroup": TURN_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if privileged_port and not host_network:
        # TLS on 443 without root: the pod's own network namespace lets unprivileged ports start there.
        pod_security["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": str(turn.tls_port)}]
    elif privileged_port:
        # On the node's network a pod may not set that sysctl: root, with only NET_BIND_SERVICE.
        security.update(runAsNonRoot=False, runAsUser=0, capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
        pod_security.update(runAsNonRoot=False, runAsUser=0, runAsGroup=0)
    conf_hash = content_hash(turnserver_conf(cluster) + (secret_name or ""))
    pod_spec: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security,
        "terminationGracePeriodSeconds": 30,
        "affinity": names.spread_over_nodes(names.turn_selector_labels(c)),
        "containers": [
            {
                "name": "turn",
                "image": turn.image,
                "env": [{"name": "RELAY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "ports": ports,
                "readinessProbe": {"tcpSocket": {"port": "turn-tcp"}, "periodSeconds": 10},
                # The agent answers while coturn's log is open (coturn running); coturn's own port:
                # the readiness probe.
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "admin"},
                    "initialDelaySeconds": 10,
                    "periodSeconds": 10,
                    "failureThreshold": 6,
                },
                "resources": {"requests": turn.resources.requests, "limits": turn.resources.limits},
                "securityContext": security,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if host_network:
        pod_spec["hostNetwork"] = True
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": names.child_metadata(cluster, names.turn_name(c), names.turn_labels(c)),
        "spec": {
            "replicas": turn.replicas,
            "selector": {"matchLabels": names.turn_selector_labels(c)},
            # On host networking two pods cannot hold the node's port: replace, never surge. The
            # rolling update's numbers are ours (Kubernetes' defaults, written out): a field this
            # operator applied is removed when it applies Recreate; a defaulted one would stay, and
            # the API server refuses rollingUpdate beside Recreate (a switch to HostNetwork failed).
            "strategy": {"type": "Recreate"} if host_network else {
                "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {
                    "labels": names.turn_labels(c),
                    "annotations": {names.CONFIG_HASH_ANNOTATION: conf_hash},
                },
                "spec": pod_spec,
            },
        },
    }


def service(cluster: GuestCluster) -> Manifest:
    """The Service visitors reach the TURN server through (host networking: a ClusterIP one, for
    the cluster's own use; visitors go to the node's address)."""
    c = cluster.metadata.name
    turn = cluster.spec.turn
    kind = {"LoadBalancer": "LoadBalancer", "NodePort": "NodePort", "HostNetwork": "ClusterIP"}[turn.service_type]
    spec: Manifest = {
        "type": kind,
        "selector": names.turn_selector_labels(c),
        "ports": [
            {"name": name, "port": port, "targetPort": name, "protocol": protocol}
            for name, port, protocol in _listen_ports(cluster)
        ],
    }
    if kind != "ClusterIP":
        # The visitor's own address reaches coturn (it logs it; quotas do not depend on it).
        spec["externalTrafficPolicy"] = "Local"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.child_metadata(cluster, names.turn_name(c), names.turn_labels(c)),
        "spec": spec,
    }


def network_policy(cluster: GuestCluster) -> Manifest:
    """The TURN pods: anyone may reach the TURN ports; only the signalling pods the relay ports;
    and the TURN pods reach nothing but the signalling pods' media ports."""
    c = cluster.metadata.name
    turn = cluster.spec.turn
    signal_pods = {"podSelector": {"matchLabels": names.selector_labels(c)}}
    listen = [{"port": port, "protocol": protocol} for _, port, protocol in _listen_ports(cluster)]
    # The admin port (metrics, the operator's push) from anywhere in the cluster: Prometheus and the
    # operator run where the chart puts them. It is not a port of the Service.
    admin = [{"port": names.TURN_ADMIN_PORT, "protocol": "TCP"}]
    relay = {"protocol": "UDP", "port": turn.relay_ports.min, "endPort": turn.relay_ports.max}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": names.child_metadata(cluster, names.turn_name(c), names.turn_labels(c)),
        "spec": {
            "podSelector": {"matchLabels": names.turn_selector_labels(c)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"ports": listen},
                {"from": [signal_pods], "ports": [relay]},
                {"from": [{"namespaceSelector": {}}], "ports": admin},
            ],
            "egress": [{"to": [signal_pods], "ports": policy_ports(signal_media_ports(cluster))}],
        },
    }


def signal_ingress_from_turn(cluster: GuestCluster) -> list[Manifest]:
    """The signalling pods' NetworkPolicy rule that lets the TURN pods reach their media ports."""
    if not enabled(cluster):
        return []
    return [
        {
            "from": [{"podSelector": {"matchLabels": names.turn_selector_labels(cluster.metadata.name)}}],
            "ports": policy_ports(signal_media_ports(cluster)),
        }
    ]


@dataclass(frozen=True)
class TurnEndpoint:
    """Where visitors reach the TURN server (the ports may differ per transport on NodePorts)."""

    host: str
    udp_port: int
    tcp_port: int
    tls_port: int | None

    def address(self) -> str:
        return f"{_bracket(self.host)}:{self.udp_port}"

    def urls(self) -> tuple[str, ...]:
        host = _bracket(self.host)
        urls = [f"turn:{host}:{self.udp_port}?transport=udp", f"turn:{host}:{self.tcp_port}?transport=tcp"]
        if self.tls_port is not None:
            urls.append(f"turns:{host}:{self.tls_port}?transport=tcp")
        return tuple(urls)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def endpoint(cluster: GuestCluster, observed_service: Manifest | None) -> TurnEndpoint | None:
    """The TURN address visitors use, from the spec and the Service as the API server has it;
    None while there is none (disabled, no load balancer address yet, no externalAddress)."""
    turn = cluster.spec.turn
    if not turn.enabled:
        return None
    tls = turn.tls_secret_name is not None
    if turn.service_type != "NodePort" and turn.external_address:
        # The Service's ports (or the node's, on host networking) are the spec's: nothing to wait for.
        return TurnEndpoint(turn.external_address, turn.port, turn.port, turn.tls_port if tls else None)
    if turn.service_type == "HostNetwork":
        return None
    if observed_service is None:
        return None
    ports = {p.get("name"): p for p in (observed_service.get("spec") or {}).get("ports") or []}
    key = "nodePort" if turn.service_type == "NodePort" else "port"
    try:
        udp, tcp = int(ports["turn-udp"][key]), int(ports["turn-tcp"][key])
        tls_port = int(ports["turns"][key]) if tls else None
    except (KeyError, TypeError, ValueError):
        return None  # the Service does not have our ports (yet)
    host = turn.external_address
    if host is None and turn.service_type == "LoadBalancer":
        ingress = ((observed_service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        host = next((i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")), None)
    if not host:
        return None
    return TurnEndpoint(host, udp, tcp, tls_port)


def condition(cluster: GuestCluster, found: TurnEndpoint | None, ready_replicas: int) -> ConditionChange:
    turn = cluster.spec.turn
    if not turn.enabled:
        return ConditionChange(
            "TurnReady", "True", "NotManaged",
            "spec.turn.enabled is false: no managed TURN server (the page uses ice.turnURLs, if any)",
        )
    if found is None:
        hint = {
            "LoadBalancer": f"the Service {names.turn_name(cluster.metadata.name)} has no load balancer address "
            "yet (or set spec.turn.externalAddress)",
            "NodePort": "set spec.turn.externalAddress to the address visitors reach the nodes at",
            "HostNetwork": "set spec.turn.externalAddress to the address visitors reach the node at",
        }[turn.service_type]
        return ConditionChange(
            "TurnReady", "False", "NoExternalAddress",
            f"no address visitors can reach the TURN server at: {hint}; the page offers no managed TURN until then",
        )
    if ready_replicas < 1:
        return ConditionChange(
            "TurnReady", "False", "NotReady", f"0/{turn.replicas} TURN pods ready (address {found.address()})"
        )
    return ConditionChange(
        "TurnReady", "True", "Ready",
        f"TURN at {found.address()} ({', '.join(found.urls())}); {ready_replicas}/{turn.replicas} pods ready",
    )
