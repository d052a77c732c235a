"""The operator's view of GuestClusters, SipTrunks and GuestLinks, kept current by watch events.

Filled by a LIST of each kind (a page at a time) before the first reconcile (so a restarted
operator never acts on a half-known world and rewrites what is already right), then by kopf's
watch events.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from guestgate.api.objects import GuestCluster, GuestLink, Object, SipTrunk
from guestgate.render.link import LinkRecord

log = logging.getLogger(__name__)

KINDS = ("GuestCluster", "SipTrunk", "GuestLink")
# Kept out of the cache: the API server's bookkeeping of who wrote which field (often larger than
# the object) and kubectl's copy of the last applied manifest. Nothing here reads them.
DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
Body = dict[str, Any]
T = TypeVar("T", bound=Object[Any])


class Parsed(Generic[T]):
    """A raw body (or its JSON) and its parsed form (None, with the error, when it does not parse)."""

    def __init__(self, body: Body | bytes, model: type[T]) -> None:
        self.body = body
        self.obj: T | None = None
        self.error: str | None = None
        try:
            self.obj = model.model_validate_json(body) if isinstance(body, bytes) else model.model_validate(body)
        except ValidationError as error:
            self.error = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
            )


class Cache:
    """Bodies by kind and key. GuestClusters and SipTrunks (a few) are parsed once when they arrive
    and kept parsed. A GuestLink (thousands) is kept as compact JSON, and parsed when it arrives
    only to know it is valid and what a render reads of it (a LinkRecord): 10,000 parsed links and
    their bodies as dicts were ~64 MiB, the text and the records ~12 MiB. Reading one link decodes
    and parses it again (one link per reconcile); a render reads the records. Links are indexed
    by namespace and by slug."""

    def __init__(self) -> None:
        self._bodies: dict[str, dict[str, Body]] = {kind: {} for kind in KINDS if kind != "GuestLink"}
        self._parsed: dict[str, dict[str, Parsed[Any]]] = {kind: {} for kind in KINDS if kind != "GuestLink"}
        self._link_bodies: dict[str, bytes] = {}  # key -> compact JSON of the slimmed body
        self._links: dict[str, dict[str, LinkRecord]] = {}  # namespace -> key -> record (links that parse)
        # (namespace, slug) -> keys of the links asking for it (a tuple: most slugs have one link)
        self._slugs: dict[tuple[str, str], tuple[str, ...]] = {}

    def put(self, kind: str, body: Body) -> None:
        meta = body.get("metadata", {})
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        before = self._links.get(str(meta.get("namespace")), {}).get(key) if kind == "GuestLink" else None
        self.remove(kind, key)
        if kind != "GuestLink":
            body = slim(body)
            self._bodies[kind][key] = body
            self._parsed[kind][key] = Parsed(body, MODELS[kind])
            return
        text = json.dumps(slim(body, shared=False), separators=(",", ":")).encode()
        self._link_bodies[key] = text
        fingerprint = spec_fingerprint(body.get("spec"))
        if before is not None and before.spec == fingerprint and before.generation == meta.get("generation"):
            # Only its status or metadata moved (the operator's own status write coming back, one
            # per link): it still parses, to the same record; only the text it was read from is new.
            self._keep(replace(before, source=text))
            return
        parsed: Parsed[GuestLink] = Parsed(text, GuestLink)
        if parsed.obj is not None:
            self._keep(LinkRecord.of(parsed.obj, source=text, spec=fingerprint))

    def _keep(self, record: LinkRecord) -> None:
        self._links.setdefault(record.namespace, {})[record.key] = record
        if record.slug:
            index = (record.namespace, record.slug)
            self._slugs[index] = (*self._slugs.get(index, ()), record.key)

    def remove(self, kind: str, key: str) -> None:
        if kind != "GuestLink":
            self._bodies[kind].pop(key, None)
            self._parsed[kind].pop(key, None)
            return
        self._link_bodies.pop(key, None)
        namespace = key.split("/", 1)[0]
        record = self._links.get(namespace, {}).pop(key, None)
        if record is not None and record.slug:
            index = (namespace, record.slug)
            holders = tuple(holder for holder in self._slugs.get(index, ()) if holder != key)
            if holders:
                self._slugs[index] = holders
            else:
                self._slugs.pop(index, None)

    def body(self, kind: str, key: str) -> Body | None:
        """The body as last seen (slimmed; a GuestLink's decoded afresh: changing it changes nothing here)."""
        if kind == "GuestLink":
            text = self._link_bodies.get(key)
            return json.loads(text) if text is not None else None
        return self._bodies[kind].get(key)

    def keys(self, kind: str) -> list[str]:
        return sorted(self._link_bodies if kind == "GuestLink" else self._bodies[kind])

    def parsed(self, kind: str, key: str) -> Parsed[Any] | None:
        """The body and its parsed form (a GuestLink's decoded and parsed now)."""
        if kind == "GuestLink":
            body = self.body(kind, key)
            return Parsed(body, GuestLink) if body is not None else None
        return self._parsed[kind].get(key)

    def link_references(self, namespace: str) -> list[tuple[str, str | None, str | None]]:
        """(key, clusterRef, trunkRef) of every link of the namespace, by key: from the records,
        and from the bodies of links that do not parse (they are reconciled too, to say why)."""
        records = self._links.get(namespace, {})
        out: list[tuple[str, str | None, str | None]] = []
        for key in sorted(k for k in self._link_bodies if k.startswith(f"{namespace}/")):
            record = records.get(key)
            if record is not None:
                out.append((key, record.cluster_ref, record.trunk_ref))
            else:
                spec = (self.body("GuestLink", key) or {}).get("spec") or {}
                out.append((key, spec.get("clusterRef"), spec.get("trunkRef")))
        return out

    def _objects(self, kind: str, namespace: str) -> Iterator[Any]:
        prefix = f"{namespace}/"
        for key, parsed in self._parsed[kind].items():
            if parsed.obj is not None and key.startswith(prefix):
                yield parsed.obj

    def _object(self, kind: str, namespace: str, name: str) -> Any:
        parsed = self._parsed[kind].get(f"{namespace}/{name}")
        return parsed.obj if parsed is not None else None

    def cluster(self, namespace: str, name: str) -> GuestCluster | None:
        found: GuestCluster | None = self._object("GuestCluster", namespace, name)
        return found

    def trunk(self, namespace: str, name: str) -> SipTrunk | None:
        found: SipTrunk | None = self._object("SipTrunk", namespace, name)
        return found

    def trunks(self, namespace: str) -> list[SipTrunk]:
        return list(self._objects("SipTrunk", namespace))

    def links(self, namespace: str) -> list[LinkRecord]:
        """The links of the namespace that parse, as records (LinkRecord.model() parses one)."""
        return list(self._links.get(namespace, {}).values())

    def links_with_slug(self, namespace: str, slug: str) -> list[LinkRecord]:
        """The links of the namespace that ask for `slug` (those that parse), by key."""
        records = self._links.get(namespace, {})
        return [records[key] for key in sorted(self._slugs.get((namespace, slug), ())) if key in records]


def slim(body: Body, shared: bool = True) -> Body:
    """A copy of `body` with only what the operator reads: no managedFields, no kubectl copy;
    `shared`: keys and short strings shared between objects (each JSON document brings its own
    copies of "metadata", "clusterRef", "Published"...)."""
    meta = {k: v for k, v in body.get("metadata", {}).items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
    if not shared:
        return {**body, "metadata": meta}
    copied: Body = _shared({**body, "metadata": meta})
    return copied


def spec_fingerprint(spec: Any) -> bytes:
    """What a link's rendered entry is reused by (render.link_memo): equal specs, equal bytes."""
    return hashlib.blake2b(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode(), digest_size=16).digest()


SHARED_STRING_CHARS = 64  # names, references, reasons, timestamps; not messages


def _shared(value: Any) -> Any:
    """A deep copy of JSON data with its dict keys and short strings interned."""
    if isinstance(value, dict):
        return {sys.intern(k) if isinstance(k, str) else k: _shared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v) for v in value]
    if isinstance(value, str) and len(value) <= SHARED_STRING_CHARS:
        return sys.intern(value)
    return value


MODELS: dict[str, type[Object[Any]]] = {"GuestCluster": GuestCluster, "SipTrunk": SipTrunk, "GuestLink": GuestLink}
