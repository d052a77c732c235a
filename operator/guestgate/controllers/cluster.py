"""Reconcile a GuestCluster: its children, the published configuration, its status."""

from __future__ import annotations

import base64
import logging
import secrets

from guestgate.api.objects import GuestCluster
from guestgate.config.schema import MAX_LINK_SHARDS, PublishedConfig
from guestgate.controllers.context import Context
from guestgate.controllers.metrics import record_cluster
from guestgate.kube.client import Manifest
from guestgate.render import names, network, turn
from guestgate.render import secrets as secret_render
from guestgate.render.cluster import children as cluster_children
from guestgate.render.config import belongs_to, render_published_config
from guestgate.render.link_memo import RenderMemo
from guestgate.render.profile import credentials_key
from guestgate.render.status import TurnFacts, cluster_status
from guestgate.turn import peers

log = logging.getLogger(__name__)


async def _trunk_credentials(ctx: Context, cluster: GuestCluster) -> dict[str, tuple[bytes, bytes]]:
    """Digest credentials of the cluster's trunks, read from each trunk's own Secret."""
    out: dict[str, tuple[bytes, bytes]] = {}
    for trunk in ctx.cache.trunks(cluster.metadata.namespace):
        auth = trunk.spec.auth
        if auth is None or not belongs_to(trunk, cluster):
            continue
        secret = await ctx.io(ctx.kube.get, "Secret", trunk.metadata.namespace, auth.secret_name)
        data = (secret or {}).get("data", {})
        if auth.username_key in data and auth.password_key in data:
            out[credentials_key(trunk.metadata.namespace, trunk.metadata.name)] = (
                base64.b64decode(data[auth.username_key]),
                base64.b64decode(data[auth.password_key]),
            )
    return out


async def _signal_pod_ips(ctx: Context, cluster: GuestCluster) -> list[str]:
    """The signalling pods' addresses: the only peers the TURN server may relay to."""
    selector = ",".join(f"{k}={v}" for k, v in names.selector_labels(cluster.metadata.name).items())
    pods = await ctx.io(ctx.kube.list, "Pod", cluster.metadata.namespace, selector)
    ips: list[str] = []
    for pod in pods:
        status = pod.get("status") or {}
        if pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        ips += [entry["ip"] for entry in status.get("podIPs") or [] if entry.get("ip")] or (
            [status["podIP"]] if status.get("podIP") else []
        )
    return ips


async def _prepare_turn(ctx: Context, body: Manifest, cluster: GuestCluster) -> list[str]:
    """What the managed TURN server's children need before they are applied: its generated shared
    secret (created once) and the signalling pods' addresses (the only peers it relays to); when
    spec.turn is off, the children a previous spec made are deleted."""
    ns, name = cluster.metadata.namespace, cluster.metadata.name
    if not turn.enabled(cluster):
        for kind in ("Deployment", "Service", "NetworkPolicy", "ConfigMap"):
            ctx.applied.pop((kind, ns, names.turn_name(name)), None)  # applied again if turned back on
            if await ctx.io(ctx.kube.delete_if_exists, kind, ns, names.turn_name(name)):
                await ctx.io(ctx.kube.event, body, "Normal", "Deleted", f"deleted {kind} {names.turn_name(name)}")
        return []
    generated_secrets = [turn.admin_secret(cluster, secrets.token_urlsafe(32).encode())]
    if cluster.spec.ice.turn_secret_name is None:
        generated_secrets.append(turn.shared_secret(cluster, secrets.token_urlsafe(32).encode()))
    for generated in generated_secrets:
        if await ctx.create_once(generated):
            created = f"created Secret {generated['metadata']['name']}"
            await ctx.io(ctx.kube.event, body, "Normal", "SecretCreated", created)
    return await _signal_pod_ips(ctx, cluster)


async def _publish(
    ctx: Context, key: str, cluster: GuestCluster, turn_endpoint: turn.TurnEndpoint | None
) -> tuple[PublishedConfig, list[Manifest]]:
    """Render the configuration, hand it to the pusher (controllers.pusher: the pods learn it at
    once) and return it with its ConfigMaps (what the pods start from and fall back to)."""
    ns, name = cluster.metadata.namespace, cluster.metadata.name
    memo = ctx.render_memos.setdefault(key, RenderMemo())
    published = render_published_config(cluster, ctx.cache.trunks(ns), ctx.cache.links(ns), turn_endpoint, memo)
    configuration = secret_render.config_maps(cluster, published)
    # Shards the links no longer need are emptied, so no link is served twice (created in order,
    # so the first absent one ends the search).
    in_use = {c["metadata"]["name"] for c in configuration}
    for index in range(1, MAX_LINK_SHARDS):
        shard = names.links_config_map_name(name, index)
        if shard in in_use:
            continue
        known = ("ConfigMap", ns, shard) in ctx.applied
        if not known and await ctx.io(ctx.kube.get, "ConfigMap", ns, shard) is None:
            break
        configuration.append(secret_render.empty_links_shard(cluster, index))
    files = {name: text for config_map in configuration for name, text in config_map["data"].items()}
    # The memo knows the generation of each of the cluster's links and which changed since.
    ctx.publications.publish(key, files, memo.generations, memo.take_generation_changes())
    ctx.wake_pusher()
    return published, configuration


def _want_turn_peers(ctx: Context, key: str, pod_ips: list[str] | None) -> None:
    """The TURN pods get a changed allow-list pushed at once (controllers.turn_peers), not only
    with the ConfigMap a minute later. None: no managed TURN server."""
    if pod_ips is None:
        ctx.turn_peers.pop(key, None)
        return
    wanted = peers.addresses(pod_ips)
    if ctx.turn_peers.get(key) != wanted:
        ctx.turn_peers[key] = wanted
        ctx.wake_turn_pusher()


async def publish_cluster(ctx: Context, key: str) -> None:
    """Only the configuration: rendered and handed to the pusher, without waiting for a cluster
    reconcile in flight (its ConfigMap applies and status take a second or two at 10,000 links;
    a key never runs twice at once, so an edit's reconcile would queue behind it). The next
    reconcile_cluster renders the same and applies the ConfigMaps."""
    cluster = ctx.cache.cluster(*key.split("/", 1))
    if cluster is not None and key in ctx.turn_endpoints:  # else its first reconcile publishes
        await _publish(ctx, key, cluster, ctx.turn_endpoints[key])


async def reconcile_cluster(ctx: Context, key: str) -> None:
    loaded = await ctx.load("GuestCluster", key, GuestCluster, "Ready")
    if loaded is None:
        return
    body, cluster = loaded
    now = ctx.clock()
    ns, name = cluster.metadata.namespace, cluster.metadata.name
    # The admin token first (created once; no request after): the pusher reaches the pods with it.
    for generated in (
        secret_render.signing_secret(cluster, secrets.token_hex(32).encode()),
        secret_render.admin_secret(cluster, secrets.token_urlsafe(32).encode()),
    ):
        if await ctx.create_once(generated):
            await ctx.io(
                ctx.kube.event,
                body,
                "Normal",
                "SecretCreated",
                f"created Secret {generated['metadata']['name']}",
            )

    # An edit reaches the pusher before any other request: with the TURN Service's address as
    # last read (it is read again below, and the configuration rendered again when it moved).
    known = key in ctx.turn_endpoints
    if known:
        published, configuration = await _publish(ctx, key, cluster, ctx.turn_endpoints[key])
    turn_service = (
        await ctx.io(ctx.kube.get, "Service", ns, names.turn_name(name)) if turn.enabled(cluster) else None
    )
    turn_endpoint = turn.endpoint(cluster, turn_service)
    if ctx.cache.body("GuestCluster", key) is None:
        # Deleted while the Service was read (its namespace too, perhaps): the DELETED event has
        # dropped what was known of it (its TURN address among it), and its children go with it.
        return
    if not known or ctx.turn_endpoints.get(key) != turn_endpoint:
        ctx.turn_endpoints[key] = turn_endpoint
        published, configuration = await _publish(ctx, key, cluster, turn_endpoint)
    config_hash = published.cluster.pod_start_hash()
    credentials = await _trunk_credentials(ctx, cluster)

    sources = network.sip_sources(cluster, ctx.cache.trunks(ns))
    pod_ips = await _prepare_turn(ctx, body, cluster)
    _want_turn_peers(ctx, key, pod_ips if turn.enabled(cluster) else None)
    built = cluster_children(cluster, published, credentials, sources, signal_pod_ips=pod_ips)
    # The configuration's ConfigMaps as published (the emptied shards included), then the rest.
    children = [*configuration, *(c for c in built if c["kind"] != "ConfigMap" or c["metadata"]["name"]
                                  not in {m["metadata"]["name"] for m in configuration})]
    for child in children:
        if await ctx.apply(child):
            what = f"{child['kind']} {child['metadata']['name']}"
            log.info("applied", extra={"cluster": key, "child": what})
            if child["kind"] != "ConfigMap":  # the configuration changes with every edit: no Event each time
                await ctx.io(ctx.kube.event, body, "Normal", "Applied", f"applied {what}")

    sts = await ctx.io(ctx.kube.get, "StatefulSet", ns, names.statefulset_name(name))
    ready = int((sts or {}).get("status", {}).get("readyReplicas") or 0)
    turn_ready = 0
    if turn.enabled(cluster):
        deployment = await ctx.io(ctx.kube.get, "Deployment", ns, names.turn_name(name))
        turn_ready = int((deployment or {}).get("status", {}).get("readyReplicas") or 0)
    facts = TurnFacts(turn_endpoint, turn_ready)
    publication = ctx.publications.get(key)
    serving = (publication.digest, publication.pods_serving_current()) if publication is not None else None
    status = cluster_status(cluster, published, config_hash, ready, now, sources, facts, serving)
    await ctx.write_status(body, status)
    record_cluster(ns, name, status)
