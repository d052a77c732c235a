"""Reconcile a GuestCluster: its children, the published configuration, its status."""

from __future__ import annotations

import base64
import logging
import secrets

from guestgate.api.objects import GuestCluster
from guestgate.config.schema import MAX_LINK_SHARDS
from guestgate.controllers.context import Context
from guestgate.render import names, network, workload
from guestgate.render import secrets as secret_render
from guestgate.render.config import belongs_to, render_published_config
from guestgate.render.profile import credentials_key
from guestgate.render.status import cluster_status

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


async def reconcile_cluster(ctx: Context, key: str) -> None:
    loaded = await ctx.load("GuestCluster", key, GuestCluster, "Ready")
    if loaded is None:
        return
    body, cluster = loaded
    now = ctx.clock()
    ns, name = cluster.metadata.namespace, cluster.metadata.name
    published = render_published_config(cluster, ctx.cache.trunks(ns), ctx.cache.links(ns))
    config_hash = published.cluster.pod_start_hash()
    credentials = await _trunk_credentials(ctx, cluster)

    for generated in (
        secret_render.signing_secret(cluster, secrets.token_hex(32).encode()),
        secret_render.admin_secret(cluster, secrets.token_urlsafe(32).encode()),
    ):
        if await ctx.io(ctx.kube.create_if_missing, generated):
            await ctx.io(
                ctx.kube.event,
                body,
                "Normal",
                "SecretCreated",
                f"created Secret {generated['metadata']['name']}",
            )

    sources = network.sip_sources(cluster, ctx.cache.trunks(ns))
    config_maps = secret_render.config_maps(cluster, published)
    # Shards the links no longer need are emptied, so no link is served twice (created in order,
    # so the first absent one ends the search).
    for index in range(len(config_maps), MAX_LINK_SHARDS):
        if await ctx.io(ctx.kube.get, "ConfigMap", ns, names.links_config_map_name(name, index)) is None:
            break
        config_maps.append(secret_render.empty_links_shard(cluster, index))
    children = [
        workload.service_account(cluster),
        *config_maps,
        secret_render.credentials_secret(cluster, credentials),
        network.headless_service(cluster),
        network.service(cluster),
        network.pod_disruption_budget(cluster),
        network.sip_network_policy(cluster, sources),
        workload.statefulset(cluster, config_hash, published.logo_files()),
    ]
    for child in children:
        if await ctx.io(ctx.kube.apply_if_changed, child):
            what = f"{child['kind']} {child['metadata']['name']}"
            log.info("applied", extra={"cluster": key, "child": what})
            await ctx.io(ctx.kube.event, body, "Normal", "Applied", f"applied {what}")

    sts = await ctx.io(ctx.kube.get, "StatefulSet", ns, names.statefulset_name(name))
    ready = int((sts or {}).get("status", {}).get("readyReplicas") or 0)
    await ctx.write_status(body, cluster_status(cluster, published, config_hash, ready, now, sources))
