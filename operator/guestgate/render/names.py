"""Names and labels of everything a GuestCluster owns, in one place."""

from __future__ import annotations

from guestgate.api.objects import GuestCluster

FIELD_MANAGER = "guestgate-operator"
ANNOTATION_PREFIX = "guestgate.io"
CONFIG_HASH_ANNOTATION = f"{ANNOTATION_PREFIX}/config-hash"
HEALTH_CHECK_ANNOTATION = f"{ANNOTATION_PREFIX}/health-check"

CONFIG_MOUNT = "/etc/guestgate/config"
SECRETS_MOUNT = "/etc/guestgate/secrets"
ADMIN_PORT = 9090


def statefulset_name(cluster: str) -> str:
    return f"{cluster}-signal"


def headless_service_name(cluster: str) -> str:
    return f"{cluster}-signal-pods"


def service_name(cluster: str) -> str:
    return f"{cluster}-signal"


def config_map_name(cluster: str) -> str:
    return f"{cluster}-config"


def links_config_map_name(cluster: str, shard: int) -> str:
    """The ConfigMap of links shard `shard` >= 1 (shard 0, links.json, is in config_map_name)."""
    return f"{cluster}-links-{shard}"


def signing_secret_name(cluster: str) -> str:
    return f"{cluster}-signing-key"


def admin_secret_name(cluster: str) -> str:
    return f"{cluster}-admin-token"


def credentials_secret_name(cluster: str) -> str:
    return f"{cluster}-trunk-credentials"


def service_account_name(cluster: str) -> str:
    return f"{cluster}-signal"


def network_policy_name(cluster: str) -> str:
    return f"{cluster}-signal"


def pdb_name(cluster: str) -> str:
    return f"{cluster}-signal"


def turn_name(cluster: str) -> str:
    """The managed TURN server's Deployment, Service, ConfigMap and NetworkPolicy."""
    return f"{cluster}-turn"


def turn_secret_name(cluster: str) -> str:
    """The TURN REST shared secret the operator generates when ice.turnSecretName is empty."""
    return f"{cluster}-turn-secret"


def turn_admin_secret_name(cluster: str) -> str:
    """The bearer token the operator pushes the TURN allow-list to the TURN pods' agents with."""
    return f"{cluster}-turn-admin"


# The TURN pods' agent: coturn's metrics (GET /metrics) and the pushed allow-list (PUT /v1/peers).
# 9641: the port coturn's own Prometheus exporter uses, where it is built in.
TURN_ADMIN_PORT = 9641


def selector_labels(cluster: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "guestgate-signal", "app.kubernetes.io/instance": cluster}


def turn_selector_labels(cluster: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "guestgate-turn", "app.kubernetes.io/instance": cluster}


def _common_labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "guestgate",
        "app.kubernetes.io/managed-by": "guestgate-operator",
    }


def labels(cluster: str) -> dict[str, str]:
    return {**selector_labels(cluster), **_common_labels("signalling")}


def turn_labels(cluster: str) -> dict[str, str]:
    return {**turn_selector_labels(cluster), **_common_labels("turn")}


def spread_over_nodes(selector: dict[str, str]) -> dict[str, object]:
    """Pod anti-affinity: the pods with these labels prefer different nodes."""
    term = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": selector}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": term}
    ]}}


def child_metadata(
    cluster: GuestCluster, name: str, child_labels: dict[str, str] | None = None
) -> dict[str, object]:
    """metadata of a child: name, namespace, labels, and the owner reference that lets the
    garbage collector delete it with its GuestCluster."""
    return {
        "name": name,
        "namespace": cluster.metadata.namespace,
        "labels": child_labels or labels(cluster.metadata.name),
        "ownerReferences": [cluster.owner_reference()],
    }
