"""Reconcile a SipTrunk's status: its profile is rendered into its cluster's configuration."""

from __future__ import annotations

from guestgate.api.objects import SipTrunk
from guestgate.controllers.cache import Parsed
from guestgate.controllers.context import Context
from guestgate.render.profile import render_trunk_profile
from guestgate.render.status import TrunkHealthFacts, trunk_status


async def reconcile_trunk(ctx: Context, key: str) -> None:
    body = ctx.cache.body("SipTrunk", key)
    if body is None:
        return
    parsed = Parsed(body, SipTrunk)
    now = ctx.clock()
    if parsed.obj is None:
        await ctx.write_invalid(body, "ProfileRendered", parsed.error)
        return
    trunk = parsed.obj
    cluster = ctx.cache.cluster(trunk.metadata.namespace, trunk.spec.cluster_ref)
    profile_hash = render_trunk_profile(trunk).hash()
    pods_said = ctx.health.get(key)
    facts = TrunkHealthFacts(result=pods_said.result, reachable=pods_said.reachable) if pods_said else None
    await ctx.write_status(body, trunk_status(trunk, cluster, profile_hash, now, facts))
