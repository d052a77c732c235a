"""GuestCluster -> the StatefulSet of signalling pods and its ServiceAccount."""

from __future__ import annotations

from typing import Any

from guestgate.api.objects import GuestCluster
from guestgate.config.schema import (
    ADMIN_TOKEN_FILE,
    CREDENTIALS_DIR,
    MAX_LINK_SHARDS,
    SIGNING_KEY_FILE,
    TURN_SECRET_FILE,
)
from guestgate.media.daemon import DEFAULT_NG_PORT, RelaySettings, ng_ping_probe, rtpengine_args
from guestgate.render import names, turn
from guestgate.render.branding import logo_sources

Manifest = dict[str, Any]
SIGNAL_UID = 10001


def service_account(cluster: GuestCluster) -> Manifest:
    name = names.service_account_name(cluster.metadata.name)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": names.child_metadata(cluster, name),
        # The pods never talk to the API server: they read mounted files.
        "automountServiceAccountToken": False,
    }


def _secret_volume(volume: str, secret: str, items: list[tuple[str, str]] | None = None) -> Manifest:
    source: Manifest = {"secretName": secret, "defaultMode": 0o440}
    if items:
        source["items"] = [{"key": key, "path": path} for key, path in items]
    return {"name": volume, "secret": source}


def _ports(cluster: GuestCluster) -> list[Manifest]:
    sip = cluster.spec.sip
    ports: list[Manifest] = []
    if "udp" in sip.transports:
        ports.append({"name": "sip-udp", "containerPort": sip.port, "protocol": "UDP"})
    if "tcp" in sip.transports:
        ports.append({"name": "sip-tcp", "containerPort": sip.port, "protocol": "TCP"})
    if "tls" in sip.transports:
        ports.append({"name": "sip-tls", "containerPort": sip.tls_port, "protocol": "TCP"})
    ports.append({"name": "web", "containerPort": cluster.spec.web.port, "protocol": "TCP"})
    ports.append({"name": "admin", "containerPort": names.ADMIN_PORT, "protocol": "TCP"})
    return ports


def _config_sources(cluster: str, logo_files: tuple[str, ...] = ()) -> list[Manifest]:
    """The ConfigMap, and every links shard the cluster may grow (optional: absent until the links
    need it), projected into one directory: growing never changes the pod template. Logos kept in
    ConfigMaps join them under brand/ (a new logo ConfigMap does change the template)."""
    sources: list[Manifest] = [{"configMap": {"name": names.config_map_name(cluster)}}]
    sources += [
        {"configMap": {"name": names.links_config_map_name(cluster, index), "optional": True}}
        for index in range(1, MAX_LINK_SHARDS)
    ]
    return sources + logo_sources(logo_files)


def _volumes(cluster: GuestCluster, logo_files: tuple[str, ...] = ()) -> tuple[list[Manifest], list[Manifest]]:
    c = cluster.metadata.name
    spec = cluster.spec
    secrets = names.SECRETS_MOUNT
    volumes: list[Manifest] = [
        {"name": "config", "projected": {"sources": _config_sources(c, logo_files)}},
        _secret_volume("signing-key", names.signing_secret_name(c), [("key", "key")]),
        _secret_volume("admin-token", names.admin_secret_name(c), [("token", "token")]),
        _secret_volume("trunk-credentials", names.credentials_secret_name(c)),
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    mounts: list[Manifest] = [
        {"name": "config", "mountPath": names.CONFIG_MOUNT, "readOnly": True},
        {"name": "signing-key", "mountPath": f"{secrets}/{SIGNING_KEY_FILE.split('/')[0]}", "readOnly": True},
        {"name": "admin-token", "mountPath": f"{secrets}/{ADMIN_TOKEN_FILE.split('/')[0]}", "readOnly": True},
        {"name": "trunk-credentials", "mountPath": f"{secrets}/{CREDENTIALS_DIR}", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    optional = [
        ("sip-tls", spec.sip.tls_secret_name if "tls" in spec.sip.transports else None, None),
        ("web-tls", spec.web.tls_secret_name, None),
        ("turn", turn.shared_secret_name(cluster), [("sharedSecret", TURN_SECRET_FILE.split("/")[1])]),
    ]
    for volume, secret, items in optional:
        if secret:
            volumes.append(_secret_volume(volume, secret, items))
            mounts.append({"name": volume, "mountPath": f"{secrets}/{volume}", "readOnly": True})
    return volumes, mounts


MEDIA_UID = 10002  # the rtpengine sidecar's own user (not the signalling server's)


def media_container(cluster: GuestCluster) -> Manifest:
    """The rtpengine sidecar: userspace only, ng on the pod's loopback (the signal container is
    its only client), media on the pod's address within spec.media.ports, probed by an ng ping."""
    media = cluster.spec.media
    relay = RelaySettings(
        ng_port=DEFAULT_NG_PORT,
        interface="$(POD_IP)",
        advertised=media.advertised_address,
        port_min=media.ports.min,
        port_max=media.ports.max,
    )
    probe = {"exec": {"command": ng_ping_probe(DEFAULT_NG_PORT)}, "periodSeconds": 10, "timeoutSeconds": 5}
    return {
        "name": "media",
        "image": media.image,
        "args": rtpengine_args(relay)[1:],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "initialDelaySeconds": 5, "failureThreshold": 3},
        "resources": {"requests": media.resources.requests, "limits": media.resources.limits},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": MEDIA_UID,
            "runAsGroup": MEDIA_UID,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "media-tmp", "mountPath": "/tmp"}],
    }


def statefulset(cluster: GuestCluster, config_hash: str, logo_files: tuple[str, ...] = ()) -> Manifest:
    """The signalling pods. `config_hash` is the hash of the pod-start configuration
    (cluster.json): changing it rolls the pods; trunks and links reload without a restart.
    `logo_files` are the ConfigMap logos of the published config (PublishedConfig.logo_files)."""
    c = cluster.metadata.name
    spec = cluster.spec
    volumes, mounts = _volumes(cluster, logo_files)
    probe_common = {"periodSeconds": 10, "timeoutSeconds": 3}
    container: Manifest = {
        "name": "signal",
        "image": spec.image,
        "args": ["signal", "--config-dir", names.CONFIG_MOUNT, "--secrets-dir", names.SECRETS_MOUNT,
                 "--rtpengine", f"127.0.0.1:{DEFAULT_NG_PORT}"],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": _ports(cluster),
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "admin"}, **probe_common},
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "admin"},
            "initialDelaySeconds": 10,
            "failureThreshold": 6,
            **probe_common,
        },
        "resources": {"requests": spec.resources.requests, "limits": spec.resources.limits},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": names.child_metadata(cluster, names.statefulset_name(c)),
        "spec": {
            "replicas": spec.replicas,
            "serviceName": names.headless_service_name(c),
            # Pods are interchangeable trunk endpoints: start and replace them all at once.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": names.selector_labels(c)},
            "template": {
                "metadata": {
                    "labels": names.labels(c),
                    "annotations": {names.CONFIG_HASH_ANNOTATION: config_hash},
                },
                "spec": {
                    "serviceAccountName": names.service_account_name(c),
                    "automountServiceAccountToken": False,
                    # Calls in progress get time to end before a pod goes away.
                    "terminationGracePeriodSeconds": 60,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": SIGNAL_UID,
                        "runAsGroup": SIGNAL_UID,
                        "fsGroup": SIGNAL_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "affinity": names.spread_over_nodes(names.selector_labels(c)),
                    "containers": [container, media_container(cluster)],
                    "volumes": [*volumes, {"name": "media-tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                },
            },
        },
    }
