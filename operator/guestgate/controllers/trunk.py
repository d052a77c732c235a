"""Reconcile a SipTrunk's status: its profile is rendered into its cluster's configuration."""

from __future__ import annotations

from guestgate.api.objects import SipTrunk
from guestgate.controllers.context import Context
from guestgate.controllers.metrics import record_trunk
from guestgate.render.profile import render_trunk_profile
from guestgate.render.status import TrunkHealthFacts, trunk_status


async def reconcile_trunk(ctx: Context, key: str) -> None:
    loaded = await ctx.load("SipTrunk", key, SipTrunk, "ProfileRendered")
    if loaded is None:
        return
    body, trunk = loaded
    now = ctx.clock()
    cluster = ctx.cache.cluster(trunk.metadata.namespace, trunk.spec.cluster_ref)
    profile_hash = render_trunk_profile(trunk).hash()
    pods_said = ctx.health.get(key)
    facts = TrunkHealthFacts(result=pods_said.result, reachable=pods_said.reachable) if pods_said else None
    status = trunk_status(trunk, cluster, profile_hash, now, facts)
    await ctx.write_status(body, status)
    record_trunk(trunk.metadata.namespace, trunk.metadata.name, status)
