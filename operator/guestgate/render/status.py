"""Desired status of each resource, from what the reconcile found. Pure: no I/O, `now` passed in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from guestgate.api.guestcluster import REDUNDANT_REPLICAS
from guestgate.api.guestlink import Phase
from guestgate.api.objects import GuestCluster, GuestLink, SipTrunk
from guestgate.config.schema import PublishedConfig
from guestgate.render.conditions import ConditionChange, get_condition, set_conditions
from guestgate.render.health import healthy_condition, reachable_condition
from guestgate.render.link import link_path, link_url, time_phase
from guestgate.render.network import SipSources
from guestgate.render.turn import TurnEndpoint
from guestgate.render.turn import condition as turn_condition

Status = dict[str, Any]
SOON = "the link is published as soon as it exists"


def sip_peers_condition(sources: SipSources) -> ConditionChange:
    if sources.named:
        return ConditionChange(
            "SipPeersOnly", "False", "PeersByName",
            f"trunk peers given by host name ({', '.join(sources.named)}) cannot be written into the "
            "NetworkPolicy, so the SIP ports stay open to everyone: the pods refuse INVITEs from non-peers "
            "with 403 but answer OPTIONS; give the peers as IP addresses to close the ports",
        )
    if not sources.cidrs:
        return ConditionChange("SipPeersOnly", "True", "NoTrunks", "no trunk: the SIP ports are closed")
    return ConditionChange(
        "SipPeersOnly", "True", "PeersOnly", f"only the trunks' peers reach the SIP ports: {', '.join(sources.cidrs)}"
    )


@dataclass(frozen=True)
class TurnFacts:
    """What the reconcile found about the managed TURN server."""

    endpoint: TurnEndpoint | None = None
    ready_replicas: int = 0


def cluster_status(
    cluster: GuestCluster,
    published: PublishedConfig,
    config_hash: str,
    ready_replicas: int,
    now: datetime,
    sources: SipSources | None = None,
    turn: TurnFacts | None = None,
    serving: tuple[str, int] | None = None,
) -> Status:
    """`serving`: the digest of the configuration the pods should serve and how many ready pods
    serve it (None before the operator rendered one)."""
    spec = cluster.spec
    turn = turn or TurnFacts()
    replicas = spec.replicas
    changes = [
        sip_peers_condition(sources or SipSources((), ())),
        ConditionChange("Redundant", "True", "EnoughReplicas", f"{replicas} signalling pods")
        if replicas >= REDUNDANT_REPLICAS
        else ConditionChange(
            "Redundant",
            "False",
            "TooFewReplicas",
            f"replicas is {replicas}: fewer than {REDUNDANT_REPLICAS} signalling pods give no redundancy "
            "(a restart or a node failure drops calls); set spec.replicas to 3 or more",
        ),
        ConditionChange(
            "ConfigPublished",
            "True",
            "Published",
            f"{len(published.trunks.trunks)} trunk(s) and {published.links.count()} link(s) published "
            f"(config {config_hash})",
        ),
        ConditionChange(
            "Ready", "True", "AllReplicasReady", f"{ready_replicas}/{replicas} signalling pods ready"
        )
        if ready_replicas >= replicas
        else ConditionChange(
            "Ready", "False", "ReplicasNotReady", f"{ready_replicas}/{replicas} signalling pods ready"
        ),
        turn_condition(cluster, turn.endpoint, turn.ready_replicas),
    ]
    status: Status = {
        "conditions": set_conditions(
            cluster.status.get("conditions", []), changes, cluster.metadata.generation, now
        ),
        "observedGeneration": cluster.metadata.generation,
        "replicas": replicas,
        "readyReplicas": ready_replicas,
        "linkBaseURL": spec.public_url.rstrip("/") + "/call/",
        "configHash": config_hash,
        "trunks": len(published.trunks.trunks),
        "links": published.links.count(),
        "turnAddress": turn.endpoint.address() if turn.endpoint else "",
    }
    if serving is not None:
        status["configDigest"], status["podsServingConfig"] = serving
    return status


@dataclass(frozen=True)
class TrunkHealthFacts:
    """What the pods said about a trunk since the operator started (None: nothing new)."""

    result: dict[str, Any] | None = None  # the newest health-check result (status.lastHealthCheck)
    reachable: ConditionChange | None = None  # from the pods' OPTIONS keepalives


def trunk_status(
    trunk: SipTrunk,
    cluster: GuestCluster | None,
    profile_hash: str,
    now: datetime,
    health: TrunkHealthFacts | None = None,
) -> Status:
    """ProfileRendered and profileHash; Reachable and Healthy from the pods, Unknown until they report.

    With nothing new from the pods (e.g. right after an operator restart) the health part of the
    status is left as it is.
    """
    health = health or TrunkHealthFacts()
    conditions = trunk.status.get("conditions", [])
    ns, ref = trunk.metadata.namespace, trunk.spec.cluster_ref
    changes = [
        ConditionChange(
            "ProfileRendered", "True", "Rendered", f"profile {profile_hash} published to GuestCluster {ref}"
        )
        if cluster is not None
        else ConditionChange(
            "ProfileRendered",
            "False",
            "ClusterNotFound",
            f"GuestCluster {ref!r} not found in namespace {ns!r}; the profile is published when it exists",
        )
    ]
    if health.reachable is not None:
        changes.append(health.reachable)
    if health.result is not None:
        changes.append(healthy_condition(health.result))
    # Until the pods report: the same words the health monitor uses when it has nothing yet, so
    # its first report changes nothing that is already right.
    for default in (
        reachable_condition({}, trunk.spec.keepalive.interval_seconds),
        ConditionChange("Healthy", "Unknown", "NotChecked", "no health check has run yet"),
    ):
        if get_condition(conditions, default.type) is None and all(c.type != default.type for c in changes):
            changes.append(default)
    status: Status = {
        "conditions": set_conditions(conditions, changes, trunk.metadata.generation, now),
        "observedGeneration": trunk.metadata.generation,
        "profileHash": profile_hash if cluster is not None else "",
    }
    if health.result is not None:
        status["lastHealthCheck"] = health.result
    return status


@dataclass(frozen=True)
class LinkFacts:
    """What the reconcile found about a link's surroundings."""

    cluster: GuestCluster | None
    trunk: SipTrunk | None
    slug_taken_by: str | None  # key of the link that holds this link's slug
    # Ready pods serving the link's current generation, of the ready pods (None: not known yet).
    serving: tuple[int, int] | None = None


def link_phase_and_condition(
    link: GuestLink, facts: LinkFacts, now: datetime
) -> tuple[Phase, ConditionChange]:
    spec, ns = link.spec, link.metadata.namespace
    if facts.cluster is None:
        return "Invalid", ConditionChange(
            "Published",
            "False",
            "ClusterNotFound",
            f"GuestCluster {spec.cluster_ref!r} not found in namespace {ns!r}; {SOON}",
        )
    if facts.trunk is None:
        return "Invalid", ConditionChange(
            "Published",
            "False",
            "TrunkNotFound",
            f"SipTrunk {spec.trunk_ref!r} not found in namespace {ns!r}; {SOON}",
        )
    if facts.trunk.spec.cluster_ref != spec.cluster_ref:
        return "Invalid", ConditionChange(
            "Published",
            "False",
            "TrunkInOtherCluster",
            f"SipTrunk {spec.trunk_ref!r} belongs to GuestCluster {facts.trunk.spec.cluster_ref!r}, "
            f"not {spec.cluster_ref!r}",
        )
    if facts.slug_taken_by is not None:
        return "Invalid", ConditionChange(
            "Published",
            "False",
            "SlugConflict",
            f"slug {spec.slug!r} is already used by GuestLink {facts.slug_taken_by}; choose another slug",
        )
    phase = time_phase(link, now)
    condition = {
        "Active": ConditionChange("Published", "True", "Active", "the link is published and can be called"),
        "Scheduled": ConditionChange(
            "Published", "True", "Scheduled", f"published; calls are accepted from {spec.valid_from}"
        ),
        "Expired": ConditionChange(
            "Published", "True", "Expired", f"published, but expired at {spec.valid_until}: it answers 410"
        ),
        "Disabled": ConditionChange(
            "Published", "False", "Disabled", "spec.enabled is false: the link is withdrawn and answers 403"
        ),
    }[phase]
    return phase, condition


SERVED = "; served by "
VALID_REASONS = ("Active", "Scheduled", "Expired", "Disabled")


def with_serving(condition: ConditionChange, serving: tuple[int, int] | None, generation: int) -> ConditionChange:
    """The Published condition of a valid link, told how far the pods are: True (or Disabled)
    says how many ready pods serve this generation; Unknown (Publishing) while some do not yet."""
    if serving is None or condition.reason not in VALID_REASONS:
        return condition
    count, ready = serving
    if ready == 0:
        return replace(condition, message=condition.message + "; no signalling pod is ready yet")
    if count < ready and condition.status == "True":
        return ConditionChange(
            "Published", "Unknown", "Publishing",
            f"generation {generation} is rendered; {count} of {ready} ready signalling pods serve it so far",
        )
    if count < ready:
        return replace(condition, message=condition.message + f"; withdrawing: {count} of {ready} ready pods done")
    if condition.status == "True":
        return replace(condition, message=condition.message + f"{SERVED}{count} of {ready} ready signalling pods")
    return replace(condition, message=condition.message + f"; gone from all {ready} ready signalling pods")


def _keep_count(before: dict[str, Any] | None, condition: ConditionChange, generation: int) -> ConditionChange:
    """A link already served keeps the pod count it was published with while its generation stays
    (a pod restarting elsewhere would otherwise rewrite thousands of links' status)."""
    if (
        before is not None
        and before.get("observedGeneration") == generation
        and (before.get("status"), before.get("reason")) == (condition.status, condition.reason)
        and SERVED in condition.message
        and str(before.get("message", "")).partition(SERVED)[0] == condition.message.partition(SERVED)[0]
        and SERVED in str(before.get("message", ""))
    ):
        return replace(condition, message=str(before["message"]))
    return condition


def link_status(link: GuestLink, facts: LinkFacts, now: datetime) -> Status:
    phase, condition = link_phase_and_condition(link, facts, now)
    generation = link.metadata.generation
    condition = with_serving(condition, facts.serving, generation)
    condition = _keep_count(get_condition(link.status.get("conditions", []), "Published"), condition, generation)
    url = link_url(facts.cluster.spec.public_url, link_path(link)) if facts.cluster is not None else ""
    return {
        "conditions": set_conditions(
            link.status.get("conditions", []), [condition], link.metadata.generation, now
        ),
        "observedGeneration": link.metadata.generation,
        "url": url,
        "phase": phase,
    }


def status_differs(current: Status, desired: Status) -> bool:
    """Would writing `desired` change anything? Keys the operator does not own are ignored."""
    return any(current.get(key) != value for key, value in desired.items())
