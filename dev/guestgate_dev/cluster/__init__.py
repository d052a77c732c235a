"""A real local Kubernetes built from upstream Go modules: etcd, kube-apiserver,
kube-controller-manager (and kubectl, Helm), for tests, `make demo` and `guestgate-dev cluster`.

The public surface is re-exported here; ``cryptography`` and the rest load only when used.
"""

from guestgate_dev.cluster.cluster import ClusterError, ClusterStatus, DevCluster
from guestgate_dev.cluster.gobuild import BuildError, ensure_binaries

__all__ = ["BuildError", "ClusterError", "ClusterStatus", "DevCluster", "ensure_binaries"]
