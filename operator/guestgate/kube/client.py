"""A small synchronous Kubernetes client for exactly what the operator does.

Server-side apply with one field manager, reads, status merge-patches and events, as JSON over
kube.connection (kubeconfig or in-cluster credentials, urllib3 underneath; not the official
client, whose generated models cost the operator ~50 MiB). Callers in asyncio run these in a
thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from guestgate.kube.connection import ApiException, Connection, from_environment

__all__ = ["ApiException", "Kube", "Manifest"]

log = logging.getLogger(__name__)

Manifest = dict[str, Any]
Manifests = list[Manifest]  # (`list` is a method of Kube: inside it, the name is taken)

# kind -> (apiVersion, plural); only what GuestGate touches.
KINDS: dict[str, tuple[str, str]] = {
    "ConfigMap": ("v1", "configmaps"),
    "Secret": ("v1", "secrets"),
    "Service": ("v1", "services"),
    "ServiceAccount": ("v1", "serviceaccounts"),
    "Pod": ("v1", "pods"),
    "Event": ("v1", "events"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "Deployment": ("apps/v1", "deployments"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "GuestCluster": ("guestgate.io/v1alpha1", "guestclusters"),
    "SipTrunk": ("guestgate.io/v1alpha1", "siptrunks"),
    "GuestLink": ("guestgate.io/v1alpha1", "guestlinks"),
}


# Every request this client makes, by HTTP verb and resource (plural[/subresource]): what the
# operator costs the API server (kopf's own watches and the startup LIST go around it).
API_REQUESTS_TOTAL = Counter(
    "guestgate_api_requests_total", "Requests to the API server by verb and resource.", ["verb", "resource"]
)


def resource_of(path: str) -> str:
    """The resource of an API path: '/api/v1/namespaces/ns/configmaps/x' -> 'configmaps',
    '.../guestlinks/x/status' -> 'guestlinks/status'."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]  # after /api/v1 or /apis/group/version
    if len(rest) >= 2 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return ""
    return rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")


def _path(kind: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    api_version, plural = KINDS[kind]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


@dataclass
class WriteCounter:
    """Counts writes by verb, so tests and metrics can see that a reconcile wrote nothing."""

    applies: int = 0
    status_patches: int = 0
    creates: int = 0
    events: int = 0


class Kube:
    def __init__(self, connection: Connection, field_manager: str) -> None:
        self.connection = connection
        self.field_manager = field_manager
        self.writes = WriteCounter()

    @classmethod
    def from_environment(cls, field_manager: str, kubeconfig: str | None = None) -> Kube:
        """In a pod: the service account; elsewhere: the kubeconfig named, KUBECONFIG or ~/.kube/config."""
        return cls(from_environment(kubeconfig), field_manager)

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        parse: bool = True,
    ) -> Manifest:
        """The answer parsed (parse=False: not parsed, {} returned: the whole object a write
        answers with costs a JSON decode per status patch, and nobody reads it)."""
        # apply-patch+yaml is sent as JSON too: JSON is YAML.
        API_REQUESTS_TOTAL.labels(verb=method, resource=resource_of(path)).inc()
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        data = self.connection.request(method, path, query=query, body=payload, content_type=content_type)
        return json.loads(data) if data and parse else {}

    def get(self, kind: str, namespace: str | None, name: str) -> Manifest | None:
        try:
            return self._call("GET", _path(kind, namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None) -> list[Manifest]:
        items, _ = self.list_page(kind, namespace, label_selector)
        return items

    def list_page(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str = "",
    ) -> tuple[Manifests, str]:
        """One page of a list (`limit` objects at most; all without) and the token of the next
        page ("" after the last): 10,000 GuestLinks read a page at a time are never all decoded
        at once."""
        query = [("labelSelector", label_selector)] if label_selector else []
        if limit is not None:
            query.append(("limit", str(limit)))
        if continue_token:
            query.append(("continue", continue_token))
        answer = self._call("GET", _path(kind, namespace), query=query)
        items = answer.get("items", [])
        api_version = KINDS[kind][0]
        for item in items:  # list items come without apiVersion/kind
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return list(items), str((answer.get("metadata") or {}).get("continue") or "")

    def apply(self, manifest: Manifest, dry_run: bool = False) -> Manifest:
        meta = manifest["metadata"]
        query = [("fieldManager", self.field_manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        else:
            self.writes.applies += 1
        return self._call(
            "PATCH",
            _path(manifest["kind"], meta.get("namespace"), meta["name"]),
            body=manifest,
            query=query,
            content_type="application/apply-patch+yaml",
        )

    def apply_if_changed(self, manifest: Manifest) -> bool:
        """Apply unless the object already is what applying would make it. True if written.

        A dry-run apply shows the object after defaulting and merging, so the comparison is
        exact without mirroring the API server's defaults here.
        """
        meta = manifest["metadata"]
        live = self.get(manifest["kind"], meta.get("namespace"), meta["name"])
        if live is not None and _comparable(self.apply(manifest, dry_run=True)) == _comparable(live):
            return False
        self.apply(manifest)
        return True

    def create_if_missing(self, manifest: Manifest) -> bool:
        """For objects whose content must never be replaced (generated keys). True if created."""
        meta = manifest["metadata"]
        if self.get(manifest["kind"], meta.get("namespace"), meta["name"]) is not None:
            return False
        try:
            self.writes.creates += 1
            self._call("POST", _path(manifest["kind"], meta.get("namespace")), body=manifest)
        except ApiException as error:
            if error.status == 409:  # created meanwhile: keep theirs
                return False
            raise
        return True

    def delete_if_exists(self, kind: str, namespace: str, name: str) -> bool:
        """Delete an object (its dependents in the background). True if there was one to delete."""
        try:
            self._call("DELETE", _path(kind, namespace, name), body={"propagationPolicy": "Background"})
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def patch_status(self, kind: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.writes.status_patches += 1
        self._call(
            "PATCH",
            _path(kind, namespace, name, "status"),
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
            parse=False,
        )

    def event(self, involved: Manifest, event_type: str, reason: str, message: str) -> None:
        """A core/v1 Event on `involved` (Normal or Warning); failures are logged, not raised."""
        meta = involved["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": self.field_manager},
            "reportingComponent": self.field_manager,
        }
        try:
            self.writes.events += 1
            self._call("POST", _path("Event", meta["namespace"]), body=body)
        except ApiException as error:
            log.warning("event not posted", extra={"reason": reason, "status": error.status})


def _comparable(obj: Manifest) -> Manifest:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("managedFields", "resourceVersion")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}
