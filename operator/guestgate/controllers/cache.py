"""The operator's view of GuestClusters, SipTrunks and GuestLinks, kept current by watch events.

Filled by one LIST of each kind before the first reconcile (so a restarted operator never acts
on a half-known world and rewrites what is already right), then by kopf's watch events.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from guestgate.api.objects import GuestCluster, GuestLink, Object, SipTrunk

log = logging.getLogger(__name__)

KINDS = ("GuestCluster", "SipTrunk", "GuestLink")
Body = dict[str, Any]
T = TypeVar("T", bound=Object[Any])


class Parsed(Generic[T]):
    """A raw body and its parsed form (None, with the error, when the spec does not parse)."""

    def __init__(self, body: Body, model: type[T]) -> None:
        self.body = body
        self.obj: T | None = None
        self.error: str | None = None
        try:
            self.obj = model.model_validate(body)
        except ValidationError as error:
            self.error = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
            )


class Cache:
    def __init__(self) -> None:
        self._bodies: dict[str, dict[str, Body]] = {kind: {} for kind in KINDS}

    def put(self, kind: str, body: Body) -> None:
        meta = body.get("metadata", {})
        self._bodies[kind][f"{meta.get('namespace')}/{meta.get('name')}"] = copy.deepcopy(body)

    def remove(self, kind: str, key: str) -> None:
        self._bodies[kind].pop(key, None)

    def body(self, kind: str, key: str) -> Body | None:
        return self._bodies[kind].get(key)

    def keys(self, kind: str) -> list[str]:
        return sorted(self._bodies[kind])

    def _parsed(self, kind: str, model: type[T]) -> Iterator[T]:
        for body in self._bodies[kind].values():
            parsed = Parsed(body, model)
            if parsed.obj is not None:
                yield parsed.obj

    def cluster(self, namespace: str, name: str) -> GuestCluster | None:
        body = self.body("GuestCluster", f"{namespace}/{name}")
        return Parsed(body, GuestCluster).obj if body is not None else None

    def trunk(self, namespace: str, name: str) -> SipTrunk | None:
        body = self.body("SipTrunk", f"{namespace}/{name}")
        return Parsed(body, SipTrunk).obj if body is not None else None

    def trunks(self, namespace: str) -> list[SipTrunk]:
        return [t for t in self._parsed("SipTrunk", SipTrunk) if t.metadata.namespace == namespace]

    def links(self, namespace: str) -> list[GuestLink]:
        return [link for link in self._parsed("GuestLink", GuestLink) if link.metadata.namespace == namespace]
