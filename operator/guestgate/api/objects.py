"""Whole objects as they come from the API server: metadata, spec, status, parsed once."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from guestgate.api.guestcluster import GuestClusterSpec
from guestgate.api.guestlink import GuestLinkSpec
from guestgate.api.siptrunk import SipTrunkSpec

SpecT = TypeVar("SpecT", bound=BaseModel)


class ObjectMeta(BaseModel):
    """The parts of metadata the operator reads; the rest is ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    resource_version: str = Field(default="", alias="resourceVersion")
    creation_timestamp: str = Field(default="", alias="creationTimestamp")
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    deletion_timestamp: str | None = Field(default=None, alias="deletionTimestamp")


class Object(BaseModel, Generic[SpecT]):
    """A custom resource: metadata and the spec, parsed; the status kept as raw JSON.

    The status is only compared with what the operator would write (to skip no-op writes), so it
    stays raw: a status written by an older operator version must never stop a reconcile.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    api_version: str = Field(default="", alias="apiVersion")
    kind: str = ""
    metadata: ObjectMeta
    spec: SpecT
    status: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.metadata.name,
            "uid": self.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


class GuestCluster(Object[GuestClusterSpec]):
    pass


class SipTrunk(Object[SipTrunkSpec]):
    pass


class GuestLink(Object[GuestLinkSpec]):
    pass
