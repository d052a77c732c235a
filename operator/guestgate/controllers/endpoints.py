"""Where the signalling pods' admin APIs are, and the token they want.

In a cluster: the ready pods of the GuestCluster's StatefulSet, by pod IP. Before pods can run
(tests, `make demo`): admin URLs given on the command line per cluster, for signalling servers
running as local processes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from guestgate.kube.client import Kube
from guestgate.render import names


@dataclass(frozen=True)
class Endpoint:
    pod: str
    url: str  # base URL of the admin API, no trailing slash
    ready: bool = True


def parse_static_endpoints(values: list[str]) -> dict[str, list[Endpoint]]:
    """`NAMESPACE/CLUSTER=URL` (repeatable; several URLs for one cluster are several pods)."""
    out: dict[str, list[Endpoint]] = {}
    for value in values:
        key, sep, url = value.partition("=")
        if not sep or key.count("/") != 1 or not url.startswith(("http://", "https://")):
            raise ValueError(f"--signal-endpoint {value!r}: expected NAMESPACE/CLUSTER=http://HOST:PORT")
        pods = out.setdefault(key, [])
        pods.append(Endpoint(pod=f"{key.split('/')[1]}-local-{len(pods)}", url=url.rstrip("/")))
    return out


class EndpointSource:
    def __init__(self, kube: Kube, static: Mapping[str, list[Endpoint]] | None = None) -> None:
        self.kube = kube
        self.static = dict(static or {})

    def endpoints(self, namespace: str, cluster: str) -> list[Endpoint]:
        """The ready pods."""
        return [pod for pod in self.pods(namespace, cluster) if pod.ready]

    def pods(self, namespace: str, cluster: str) -> list[Endpoint]:
        """Every pod with an address that is not going away, ready or not (a pod that is starting
        gets the configuration before it turns ready)."""
        key = f"{namespace}/{cluster}"
        if key in self.static:
            return list(self.static[key])
        selector = ",".join(f"{k}={v}" for k, v in names.selector_labels(cluster).items())
        found = []
        for pod in self.kube.list("Pod", namespace, label_selector=selector):
            status = pod.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
            if status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
                url = f"http://{status['podIP']}:{names.ADMIN_PORT}"
                found.append(Endpoint(pod["metadata"]["name"], url, ready))
        return sorted(found, key=lambda e: e.pod)

    def token(self, namespace: str, cluster: str) -> str | None:
        secret = self.kube.get("Secret", namespace, names.admin_secret_name(cluster))
        data = (secret or {}).get("data") or {}
        return base64.b64decode(data["token"]).decode() if "token" in data else None
