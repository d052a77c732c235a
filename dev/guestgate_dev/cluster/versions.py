"""Pinned upstream versions and how each binary is built from its Go module.

One place to bump a version. The pins are plain data; ``gobuild`` turns them into a wrapper module
and a ``go build`` command line. kube-scheduler, kubelet and kube-proxy (the node of issue 7) are
further ``Binary`` rows on the same ``KUBERNETES`` module (same version, same cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KUBERNETES_VERSION = "v1.34.4"
# The etcd release Kubernetes 1.34 is tested with (build/dependencies.yaml of k8s.io/kubernetes).
ETCD_VERSION = "v3.6.5"
HELM_VERSION = "v3.19.5"


def staging_version(kubernetes_version: str) -> str:
    """The tag of the k8s.io/<staging> modules published with a Kubernetes release.

    k8s.io/kubernetes v1.34.4 ships k8s.io/api, k8s.io/client-go, ... as v0.34.4: the major
    version drops to 0, minor and patch stay.
    """
    if not kubernetes_version.startswith("v1."):
        raise ValueError(f"expected a Kubernetes version like v1.34.4, got {kubernetes_version!r}")
    return "v0." + kubernetes_version.removeprefix("v1.")


def _kube_version_ldflags(version: str) -> tuple[str, ...]:
    # Kubernetes stamps its version into two packages at link time (hack/lib/version.sh); without
    # it `kubectl version` says v0.0.0-master and Helm's kubeVersion checks reject every chart.
    major, minor = version.removeprefix("v").split(".")[:2]
    flags: list[str] = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return tuple(flags)


def _helm_ldflags(version: str, kubernetes_version: str) -> tuple[str, ...]:
    # Mirrors helm's Makefile: the version, and the Kubernetes version `helm template`/`helm lint`
    # assume when no cluster is asked (derived there from the client-go it is built with).
    major, minor = kubernetes_version.removeprefix("v").split(".")[:2]
    return (
        f"-X helm.sh/helm/v3/internal/version.version={version}",
        "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
        f"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor={major}",
        f"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor={minor}",
        f"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor={major}",
        f"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={minor}",
    )


@dataclass(frozen=True)
class GoModule:
    """An upstream Go module we build binaries from, through a wrapper module of our own.

    ``sibling_version`` is the version that every module the upstream go.mod replaces with a
    relative path (``k8s.io/api => ./staging/src/k8s.io/api``) is pinned to in the wrapper: those
    paths do not exist in the module cache, the published modules of the same release do.
    """

    path: str
    version: str
    sibling_version: str
    ldflags: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        """A directory name for this module's wrapper: readable, unique per module and version."""
        return self.path.replace("/", "_") + "@" + self.version


@dataclass(frozen=True)
class Binary:
    """One executable: the Go package (a ``main``) inside ``module`` and the file name it gets."""

    name: str
    module: GoModule
    package: str
    extra_ldflags: tuple[str, ...] = field(default=())

    @property
    def version(self) -> str:
        return self.module.version

    @property
    def cache_name(self) -> str:
        """``kube-apiserver-v1.34.4``: the version is in the name, so a bump never reuses a stale file."""
        return f"{self.name}-{self.version}"


KUBERNETES = GoModule(
    path="k8s.io/kubernetes",
    version=KUBERNETES_VERSION,
    sibling_version=staging_version(KUBERNETES_VERSION),
    ldflags=_kube_version_ldflags(KUBERNETES_VERSION),
)
ETCD = GoModule(
    path="go.etcd.io/etcd/server/v3",
    version=ETCD_VERSION,
    # etcd's api, client and pkg modules are tagged together with the server.
    sibling_version=ETCD_VERSION,
)
HELM = GoModule(
    path="helm.sh/helm/v3",
    version=HELM_VERSION,
    sibling_version=HELM_VERSION,
    ldflags=_helm_ldflags(HELM_VERSION, KUBERNETES_VERSION),
)

ETCD_BINARY = Binary("etcd", ETCD, "go.etcd.io/etcd/server/v3")
KUBE_APISERVER = Binary("kube-apiserver", KUBERNETES, "k8s.io/kubernetes/cmd/kube-apiserver")
KUBE_CONTROLLER_MANAGER = Binary(
    "kube-controller-manager", KUBERNETES, "k8s.io/kubernetes/cmd/kube-controller-manager"
)
KUBECTL = Binary("kubectl", KUBERNETES, "k8s.io/kubernetes/cmd/kubectl")
# The node (issue 7): same module and version, so the wrapper and most compiled packages are shared.
KUBE_SCHEDULER = Binary("kube-scheduler", KUBERNETES, "k8s.io/kubernetes/cmd/kube-scheduler")
KUBELET = Binary("kubelet", KUBERNETES, "k8s.io/kubernetes/cmd/kubelet")
KUBE_PROXY = Binary("kube-proxy", KUBERNETES, "k8s.io/kubernetes/cmd/kube-proxy")
HELM_BINARY = Binary("helm", HELM, "helm.sh/helm/v3/cmd/helm")

# Everything `guestgate-dev cluster build` prepares. Order matters only for the log: small ones first.
ALL_BINARIES: tuple[Binary, ...] = (
    ETCD_BINARY,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    KUBECTL,
    HELM_BINARY,
    KUBE_SCHEDULER,
    KUBELET,
    KUBE_PROXY,
)


def binary_named(name: str) -> Binary:
    for binary in ALL_BINARIES:
        if binary.name == name:
            return binary
    raise KeyError(f"no pinned binary named {name!r}; known: {', '.join(b.name for b in ALL_BINARIES)}")
