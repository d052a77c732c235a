"""Where things live on disk: the shared binary cache and one state directory per cluster.

    ~/.cache/guestgate/                  (GUESTGATE_CACHE overrides; XDG_CACHE_HOME is honoured)
      bin/kube-apiserver-v1.34.4         built binaries, version in the name
      build/<module>@<version>/          wrapper Go modules (go.mod, go.sum, tools.go, logs)
      build-times.jsonl                  one line per cold build
      clusters/<name>/
        cluster.json                     ports, server URL, versions (written by `up`)
        kubeconfig                       admin (system:masters)
        pki/                             CA, serving and client certificates, SA keypair
        kubeconfigs/<identity>.kubeconfig  one per component identity
        run/<component>.pid
        logs/<component>.log             stdout+stderr of each component, appended across runs
        data/etcd/                       etcd's data directory
        data/<component>/                anything else a component writes (serving certs, ...)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from guestgate_dev.cluster.versions import Binary, GoModule

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def default_cache_root(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    if "GUESTGATE_CACHE" in environ:
        return Path(environ["GUESTGATE_CACHE"])
    xdg = environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "guestgate"


def validate_cluster_name(name: str) -> str:
    # The name becomes a directory, an etcd member name and a kubeconfig context: keep it DNS-like.
    if not _NAME.match(name):
        raise ValueError(
            f"cluster name {name!r} is not valid: use 1-40 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class CacheLayout:
    root: Path

    @classmethod
    def default(cls) -> CacheLayout:
        return cls(default_cache_root())

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def wrapper_dir(self, module: GoModule) -> Path:
        return self.root / "build" / module.slug

    def build_log(self, binary: Binary) -> Path:
        return self.root / "build" / f"{binary.cache_name}.log"

    def cluster(self, name: str) -> ClusterLayout:
        return ClusterLayout(self.root / "clusters" / validate_cluster_name(name))


@dataclass(frozen=True)
class ClusterLayout:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def lock_file(self) -> Path:
        # Beside the state dir, not in it: `delete` removes the dir while the lock is held.
        return self.root.parent / ".locks" / f"{self.root.name}.lock"

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def cert(self, name: str) -> Path:
        return self.pki / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.pki / f"{name}.key"

    def component_kubeconfig(self, identity: str) -> Path:
        return self.root / "kubeconfigs" / f"{identity}.kubeconfig"

    def pid_file(self, component: str) -> Path:
        return self.root / "run" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    def data_dir(self, component: str) -> Path:
        return self.root / "data" / component

    @property
    def helm_home(self) -> Path:
        # Helm's config, cache and data for this cluster, so tests never touch ~/.config/helm.
        return self.root / "helm"
