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


def selector_labels(cluster: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "guestgate-signal", "app.kubernetes.io/instance": cluster}


def labels(cluster: str) -> dict[str, str]:
    return {
        **selector_labels(cluster),
        "app.kubernetes.io/component": "signalling",
        "app.kubernetes.io/part-of": "guestgate",
        "app.kubernetes.io/managed-by": "guestgate-operator",
    }


def child_metadata(cluster: GuestCluster, name: str) -> dict[str, object]:
    """metadata of a child: name, namespace, labels, and the owner reference that lets the
    garbage collector delete it with its GuestCluster."""
    return {
        "name": name,
        "namespace": cluster.metadata.namespace,
        "labels": labels(cluster.metadata.name),
        "ownerReferences": [cluster.owner_reference()],
    }
