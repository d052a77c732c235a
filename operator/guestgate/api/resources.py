"""The three custom resources: their models, names and how `kubectl get` shows them."""

from __future__ import annotations

from dataclasses import dataclass

from guestgate.api.common import Model
from guestgate.api.guestcluster import GuestClusterSpec, GuestClusterStatus
from guestgate.api.guestlink import GuestLinkSpec, GuestLinkStatus
from guestgate.api.siptrunk import SipTrunkSpec, SipTrunkStatus

CATEGORY = "guestgate"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec: type[Model]
    status: type[Model]
    description: str
    columns: tuple[PrinterColumn, ...]


def _condition(type_: str, field: str) -> str:
    return f'.status.conditions[?(@.type=="{type_}")].{field}'


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")

GUESTCLUSTER = Resource(
    kind="GuestCluster",
    plural="guestclusters",
    singular="guestcluster",
    short_names=("gc",),
    spec=GuestClusterSpec,
    status=GuestClusterStatus,
    description="A cluster of GuestGate signalling pods: they serve click-to-call links to browsers "
    "and place the calls over SipTrunks.",
    columns=(
        PrinterColumn("Replicas", ".spec.replicas", "integer"),
        PrinterColumn("Ready", ".status.readyReplicas", "integer"),
        PrinterColumn("Links", ".status.links", "integer"),
        PrinterColumn("Redundant", _condition("Redundant", "status")),
        PrinterColumn("URL", ".status.linkBaseURL"),
        PrinterColumn("TURN", ".status.turnAddress"),
        PrinterColumn("TURN Ready", _condition("TurnReady", "status"), priority=1),
        AGE,
    ),
)

SIPTRUNK = Resource(
    kind="SipTrunk",
    plural="siptrunks",
    singular="siptrunk",
    short_names=("st",),
    spec=SipTrunkSpec,
    status=SipTrunkStatus,
    description="A SIP trunk from a GuestCluster to the enterprise call controller (CUCM, CUBE, "
    "Asterisk, FreeSWITCH, Kamailio), with its profile and health checks.",
    columns=(
        PrinterColumn("Peer", ".spec.peer.host"),
        PrinterColumn("Platform", ".spec.platform"),
        PrinterColumn("PRACK", ".spec.prack"),
        PrinterColumn("Reachable", _condition("Reachable", "status")),
        PrinterColumn("Healthy", _condition("Healthy", "status")),
        PrinterColumn("Reason", _condition("Healthy", "reason")),
        PrinterColumn("Message", _condition("Healthy", "message"), priority=1),
        AGE,
    ),
)

GUESTLINK = Resource(
    kind="GuestLink",
    plural="guestlinks",
    singular="guestlink",
    short_names=("gl",),
    spec=GuestLinkSpec,
    status=GuestLinkStatus,
    description="One click-to-call link: a visitor opens its URL and calls its destination.",
    columns=(
        PrinterColumn("URL", ".status.url"),
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Destination", ".spec.destination"),
        PrinterColumn("Enabled", ".spec.enabled", "boolean", priority=1),
        AGE,
    ),
)

RESOURCES = (GUESTCLUSTER, SIPTRUNK, GUESTLINK)
